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

// ErrEncryptedCacheUnsupported is returned on Linux and macOS for a config
// dir whose core.encrypt_token_cache is true: az then keeps the cache in
// the Keychain or libsecret, which azconfig does not write.
var ErrEncryptedCacheUnsupported = errors.New("the token cache is encrypted (core.encrypt_token_cache=true); only Windows DPAPI is supported")

// TokenCachePath returns the path of the token cache az uses in dir and
// whether it is DPAPI-protected: msal_token_cache.bin when
// core.encrypt_token_cache is true (AZURE_CORE_ENCRYPT_TOKEN_CACHE, then
// the config file; the default is true on Windows only), else
// msal_token_cache.json.
func TokenCachePath(dir string) (path string, encrypted bool, err error) {
	encrypted = runtime.GOOS == "windows"
	if v, ok := os.LookupEnv("AZURE_CORE_ENCRYPT_TOKEN_CACHE"); ok {
		if b, ok := parseBool(v); ok {
			encrypted = b
		}
	} else {
		cfg, err := LoadINI(filepath.Join(dir, ConfigFile))
		if err != nil {
			return "", false, err
		}
		if v, ok := cfg.Get("core", "encrypt_token_cache"); ok {
			if b, ok := parseBool(v); ok {
				encrypted = b
			}
		}
	}
	if encrypted {
		if runtime.GOOS != "windows" {
			return "", true, ErrEncryptedCacheUnsupported
		}
		return filepath.Join(dir, TokenCacheBin), true, nil
	}
	return filepath.Join(dir, TokenCacheJSON), false, nil
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

// LoadTokenCache reads the token cache of dir without taking the lock, as
// az reads it. A missing file is an empty cache.
func LoadTokenCache(dir string) (*TokenCache, error) {
	path, enc, err := TokenCachePath(dir)
	if err != nil {
		return nil, err
	}
	c, _, err := readCache(path, enc)
	return c, err
}

func readCache(path string, encrypted bool) (*TokenCache, []byte, error) {
	data, err := readCacheBytes(path, encrypted)
	if err != nil {
		return nil, nil, err
	}
	c, err := ParseTokenCache(data)
	if err != nil {
		return nil, nil, malformed(path, err)
	}
	return c, data, nil
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
	path, enc, err := TokenCachePath(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, fileutil.DirPerm); err != nil {
		return err
	}
	unlock, err := LockCache(ctx, path+LockSuffix)
	if err != nil {
		return err
	}
	defer unlock()
	data, err := readCacheBytes(path, enc)
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
		return atPath(path, err)
	}
	if !write {
		return nil
	}
	if enc {
		if after, err = protect(after); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return writeRetry(path, after, durable)
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
