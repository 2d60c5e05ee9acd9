package azconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
)

// File names in an Azure CLI config dir.
const (
	TokenCacheJSON = "msal_token_cache.json" // plain JSON (Linux, macOS)
	TokenCacheBin  = "msal_token_cache.bin"  // DPAPI-protected JSON (Windows)
	ProfileFile    = "azureProfile.json"
	ConfigFile     = "config"
	CloudsFile     = "clouds.config"
	HTTPCacheFile  = "msal_http_cache.bin"
	// LockSuffix is appended to the cache file's name for the lock file
	// MSAL extensions (and so az) take before writing the cache.
	LockSuffix = ".lockfile"
)

var bom = []byte{0xef, 0xbb, 0xbf}

// ErrEncryptedCacheUnsupported is wrapped by the *EncryptedCacheError of
// a config dir whose az keeps its token cache in a store azkeep cannot
// write.
var ErrEncryptedCacheUnsupported = errors.New("azkeep cannot write there")

// EncryptEnv overrides core.encrypt_token_cache for every config dir.
const EncryptEnv = "AZURE_CORE_ENCRYPT_TOKEN_CACHE"

// Persistence is where az keeps the token cache of a config dir (through
// msal-extensions).
type Persistence int

const (
	// PlainJSON is msal_token_cache.json: encryption off (the default on
	// Linux and macOS).
	PlainJSON Persistence = iota
	// DPAPI is msal_token_cache.bin encrypted for the user (Windows, on by
	// default).
	DPAPI
	// Libsecret is one Secret Service item shared by every config dir with
	// encryption on, signalled by an empty msal_token_cache.bin (Linux).
	Libsecret
	// Keychain is a macOS Keychain item.
	Keychain
)

// String names p as messages do.
func (p Persistence) String() string {
	switch p {
	case DPAPI:
		return "DPAPI-protected " + TokenCacheBin
	case Libsecret:
		return "the Secret Service (libsecret)"
	case Keychain:
		return "the macOS Keychain"
	}
	return TokenCacheJSON
}

// CachePersistence reports which persistence az reads for dir:
// core.encrypt_token_cache (AZURE_CORE_ENCRYPT_TOKEN_CACHE first, then the
// dir's config; on by default on Windows only) picks the encrypted store
// of the OS.
func CachePersistence(dir string) (Persistence, error) {
	return cachePersistence(dir, runtime.GOOS, os.LookupEnv)
}

func cachePersistence(dir, goos string, lookupEnv func(string) (string, bool)) (Persistence, error) {
	encrypted, err := encryptionOn(dir, goos, lookupEnv)
	if err != nil || !encrypted {
		return PlainJSON, err
	}
	switch goos {
	case "windows":
		return DPAPI, nil
	case "darwin":
		return Keychain, nil
	}
	return Libsecret, nil
}

// encryptionOn reads core.encrypt_token_cache as az does.
func encryptionOn(dir, goos string, lookupEnv func(string) (string, bool)) (bool, error) {
	on := goos == "windows"
	if v, ok := lookupEnv(EncryptEnv); ok {
		if b, ok := parseBool(v); ok {
			on = b
		}
		return on, nil
	}
	cfg, err := LoadINI(filepath.Join(dir, ConfigFile))
	if err != nil {
		return false, err
	}
	if v, ok := cfg.Get("core", "encrypt_token_cache"); ok {
		if b, ok := parseBool(v); ok {
			on = b
		}
	}
	return on, nil
}

// EncryptedCacheError means az reads dir's token cache from an encrypted
// store azkeep cannot write (no Secret Service to talk to, the Keychain):
// writing msal_token_cache.json there would be writing where az does not
// read.
type EncryptedCacheError struct {
	Dir         string
	Persistence Persistence
	// Why is the store's own error, if any.
	Why error
}

// Error implements error.
func (e *EncryptedCacheError) Error() string {
	msg := fmt.Sprintf("az reads an encrypted token cache for %s (%s) and azkeep cannot write there", e.Dir, e.Persistence)
	if e.Why != nil {
		msg += ": " + e.Why.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrEncryptedCacheUnsupported) true.
func (e *EncryptedCacheError) Is(target error) bool { return target == ErrEncryptedCacheUnsupported }

// Unwrap returns the store's error.
func (e *EncryptedCacheError) Unwrap() error { return e.Why }

// encryptedCacheError is the error with the fix: encryption off in dir (or
// in the environment, when that is what turned it on).
func encryptedCacheError(dir string, p Persistence, why error) error {
	fix := "turn encryption off in that dir: az config set core.encrypt_token_cache=false (with AZURE_CONFIG_DIR=" + dir + ")"
	if _, ok := os.LookupEnv(EncryptEnv); ok {
		fix = "unset " + EncryptEnv + " (it turns encryption on for every config dir), or set it to false"
	}
	return hint.New(&EncryptedCacheError{Dir: dir, Persistence: p, Why: why}, fix)
}

// TokenCachePath returns the file az keeps dir's token cache in (for the
// Secret Service, the signal file next to the item) and whether that file
// is DPAPI-protected.
func TokenCachePath(dir string) (path string, dpapi bool, err error) {
	st, err := openCacheStore(dir)
	if err != nil {
		return "", false, err
	}
	switch st := st.(type) {
	case fileStore:
		return st.path, st.dpapi, nil
	case *libsecretStore:
		return st.signal(), false, nil
	}
	return "", false, fmt.Errorf("unknown token cache store %s", st)
}

// parseBool reads a boolean as Python's configparser.getboolean does.
func parseBool(v string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "true", "on":
		return true, true
	case "0", "no", "false", "off":
		return false, true
	}
	return false, false
}

// cacheStore is where az keeps one config dir's token cache.
type cacheStore interface {
	// String names the store in messages.
	String() string
	// lockPath is the lock file az takes around a write.
	lockPath() string
	// read returns the cache's JSON; nil when there is none.
	read() ([]byte, error)
	// write replaces the cache's JSON, as az would find it next; durable
	// asks for it to be on the disk before write returns (it holds a
	// refresh token).
	write(data []byte, durable bool) error
}

// fileStore is a cache file: msal_token_cache.json, or the DPAPI-protected
// msal_token_cache.bin on Windows.
type fileStore struct {
	path  string
	dpapi bool
}

func (s fileStore) String() string        { return s.path }
func (s fileStore) lockPath() string      { return s.path + LockSuffix }
func (s fileStore) read() ([]byte, error) { return readCacheBytes(s.path, s.dpapi) }

func (s fileStore) write(data []byte, durable bool) error {
	if s.dpapi {
		var err error
		if data, err = protect(data); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
	}
	if err := writeRetry(s.path, data, durable); err != nil {
		return err
	}
	return stampNow(s.path)
}

// openCacheStore returns the store az reads dir's token cache from; one
// azkeep cannot write is an *EncryptedCacheError with the fix.
func openCacheStore(dir string) (cacheStore, error) {
	p, err := CachePersistence(dir)
	if err != nil {
		return nil, err
	}
	switch p {
	case PlainJSON:
		return fileStore{path: filepath.Join(dir, TokenCacheJSON)}, nil
	case DPAPI:
		return fileStore{path: filepath.Join(dir, TokenCacheBin), dpapi: true}, nil
	case Libsecret:
		return newLibsecretStore(dir), nil
	}
	return nil, encryptedCacheError(dir, p, nil)
}

// CheckTokenCache returns where az reads dir's token cache, or an
// *EncryptedCacheError (with the fix) when azkeep cannot write there: a
// Secret Service that does not answer, the macOS Keychain.
func CheckTokenCache(dir string) (string, error) {
	s, err := openCacheStore(dir)
	if err != nil {
		return "", err
	}
	if _, err := s.read(); err != nil {
		return "", err
	}
	return s.String(), nil
}

// LoadTokenCache reads the token cache of dir without taking the lock, as
// az reads it. A missing cache is an empty one.
func LoadTokenCache(dir string) (*TokenCache, error) {
	s, err := openCacheStore(dir)
	if err != nil {
		return nil, err
	}
	data, err := s.read()
	if err != nil {
		return nil, err
	}
	c, err := ParseTokenCache(data)
	if err != nil {
		return nil, malformed(s.String(), err)
	}
	return c, nil
}

// readCacheBytes returns the cache's JSON (decrypted); nil when missing.
func readCacheBytes(path string, encrypted bool) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if encrypted && len(data) > 0 {
		if data, err = unprotect(data); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return data, nil
}

// applyCacheUpdate is the decision at the heart of UpdateTokenCache: parse
// data (nil: no file), run fn, and say whether the result must be written
// (fn changed something). Malformed data is an error before fn runs, so a
// file that does not parse is never rewritten.
func applyCacheUpdate(data []byte, fn func(*TokenCache) error) (out []byte, write bool, err error) {
	return applyUpdate(data, ParseTokenCache, fn)
}

// applyUpdate is the read-modify-write decision both Azure CLI JSON files
// share: parse data (a *MalformedError when it does not parse, before fn
// runs), run fn, and write only when the marshalled bytes changed.
func applyUpdate[T interface{ Marshal() ([]byte, error) }](data []byte, parse func([]byte) (T, error), fn func(T) error) (out []byte, write bool, err error) {
	v, err := parse(data)
	if err != nil {
		return nil, false, &MalformedError{Err: err}
	}
	before, err := v.Marshal()
	if err != nil {
		return nil, false, err
	}
	if err := fn(v); err != nil {
		return nil, false, err
	}
	after, err := v.Marshal()
	if err != nil {
		return nil, false, err
	}
	return after, !bytes.Equal(before, after), nil
}

// UpdateTokenCache is the read-modify-write of dir's token cache: it takes
// the lock az takes, reads the cache, calls fn and, when fn returns nil and
// changed something, writes the cache back atomically (a concurrent reader
// sees the old file or the new one) in az's format, mode 0600. A malformed
// cache is an error and is left untouched; fn is not called.
func UpdateTokenCache(ctx context.Context, dir string, fn func(*TokenCache) error) error {
	s, err := openCacheStore(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, fileutil.DirPerm); err != nil {
		return err
	}
	unlock, err := LockCache(ctx, s.lockPath())
	if err != nil {
		return err
	}
	defer unlock()
	data, err := s.read()
	if err != nil {
		return err
	}
	// A cache that holds a refresh token is fsynced: the token may be the
	// only copy (single-use refresh tokens). One without is rebuilt from
	// the vault by the next start or rotation, as az itself, which never
	// fsyncs, would rebuild it by signing in again.
	durable := false
	after, write, err := applyCacheUpdate(data, func(c *TokenCache) error {
		if err := fn(c); err != nil {
			return err
		}
		durable = c.RefreshTokens.Len() > 0
		return nil
	})
	if err != nil {
		return atPath(s.String(), err)
	}
	if !write {
		return nil
	}
	return s.write(after, durable)
}

// stampNow sets path's modification time to the precise current time,
// while the lock is still held. A running az (msal-extensions) reloads
// the cache before its next write only when the file's mtime is newer than
// the moment of its own last write (time.time() in Python); the kernel
// stamps files from a coarse clock that lags by up to a tick, so a write
// that follows az's within that tick looked older, and az overwrote it
// with its stale copy (TestConcurrentWithRealAZ lost an update so).
func stampNow(path string) error {
	now := time.Now()
	return os.Chtimes(path, now, now)
}

// MalformedError means an Azure CLI file azkeep must read does not parse.
// azkeep leaves such a file untouched.
type MalformedError struct {
	Path string
	Err  error
}

// Error implements error.
func (e *MalformedError) Error() string {
	if e.Path == "" {
		return "not a valid Azure CLI file: " + e.Err.Error()
	}
	return e.Path + " is not a valid Azure CLI file: " + e.Err.Error()
}

// Unwrap returns the parse error.
func (e *MalformedError) Unwrap() error { return e.Err }

// malformed wraps a parse error of path with the fix.
func malformed(path string, err error) error {
	return hint.New(&MalformedError{Path: path, Err: err},
		"repair or remove "+path+" (az recreates it; the logins kept in it are then lost)")
}

// atPath names path in a *MalformedError from applyUpdate, with the fix
// (see malformed); other errors pass unchanged.
func atPath(path string, err error) error {
	var me *MalformedError
	if errors.As(err, &me) {
		return malformed(path, me.Err)
	}
	return err
}

// writeRetry is fileutil.WriteAtomic (durable) or fileutil.Replace,
// retried briefly on Windows, where the rename fails while az has the file
// open for reading.
func writeRetry(path string, data []byte, durable bool) error {
	write := fileutil.Replace
	if durable {
		write = fileutil.WriteAtomic
	}
	err := write(path, data, fileutil.FilePerm)
	for i := 1; err != nil && runtime.GOOS == "windows" && i <= 10; i++ {
		time.Sleep(time.Duration(i) * 20 * time.Millisecond)
		err = write(path, data, fileutil.FilePerm)
	}
	return err
}

// LockCache takes the lock MSAL extensions take around a cache write:
// lockPath (the cache path plus ".lockfile") created exclusively when
// possible, then an exclusive flock on it. The lock file is removed on
// release, as az removes it: az waits up to 5 s whenever the file exists.
// It waits until ctx is done.
func LockCache(ctx context.Context, lockPath string) (unlock func(), err error) {
	for {
		// Like az, announce the lock by creating the file exclusively; if it
		// exists, its flock is what counts (a crashed process leaves a
		// stale file that nobody holds).
		if f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, fileutil.FilePerm); err == nil {
			f.Close()
		}
		fl := flock.New(lockPath, flock.SetPermissions(fileutil.FilePerm))
		ok, err := fl.TryLockContext(ctx, 20*time.Millisecond)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", lockPath, err)
		}
		if !ok {
			return nil, fmt.Errorf("lock %s: not acquired", lockPath)
		}
		// The holder before us removes the file after releasing it: if the
		// file we locked is no longer the one at lockPath, we hold nothing.
		held, err1 := fl.Stat()
		cur, err2 := os.Stat(lockPath)
		if err1 == nil && err2 == nil && os.SameFile(held, cur) {
			return func() {
				// On Unix, remove while still holding the lock, so a waiter
				// that locks this inode next sees it is stale and retries.
				// Windows cannot remove an open file: release first, as az does.
				if runtime.GOOS == "windows" {
					fl.Unlock()
					os.Remove(lockPath)
					return
				}
				os.Remove(lockPath)
				fl.Unlock()
			}, nil
		}
		fl.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("lock %s: %w", lockPath, err)
		}
	}
}
