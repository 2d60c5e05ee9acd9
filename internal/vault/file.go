package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
)

// PassphraseEnv is the environment variable the file backend reads its
// passphrase from when Options.Passphrase is nil.
const PassphraseEnv = "AZKEEP_VAULT_PASSPHRASE"

// DefaultScryptWorkFactor is the scrypt cost (log2 N) of the file backend's
// identity file: 2^16 uses 64 MiB and well under a second, once per
// process. age's own default, 18, costs 256 MiB.
const DefaultScryptWorkFactor = 16

// fileBackend keeps one age file per integration under
// <Home>/vault/file/items/<integration>.age, each holding a JSON object of
// that integration's items. Keys without a '/' get a file of their own.
//
// The item files are encrypted to an age X25519 identity that is generated
// with the first item and kept in <Home>/vault/file/identity.age, itself
// encrypted with the passphrase (age scrypt). So the passphrase is stretched
// once per process, not once per file, and one vault never holds files under
// two passphrases. All are standard age files: by hand,
// `age -d identity.age > id; age -d -i id items/<integration>.age`.
type fileBackend struct {
	dir        string // item files
	idPath     string // identity.age
	passphrase func() ([]byte, error)
	workFactor int
	// unlockTTL is how long the unlocked identity stays in the kernel
	// keyring for the next commands of the login session (0: not kept).
	unlockTTL time.Duration

	mu    sync.Mutex
	pass  string                    // asked once; dropped when it proves wrong
	id    *age.X25519Identity       // unlocked identity
	cache map[string]fileCacheEntry // path -> last decrypted content
}

type fileCacheEntry struct {
	sum   [32]byte
	items map[string][]byte
}

type fileContent struct {
	Version int               `json:"version"`
	Items   map[string][]byte `json:"items"`
}

var safeName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// split maps a key to its integration file and the item inside it.
func (f *fileBackend) split(key string) (path, item string) {
	integ, item, _ := strings.Cut(key, "/")
	name := integ
	if !safeName().MatchString(integ) || strings.HasSuffix(integ, ".age") {
		sum := sha256.Sum256([]byte(integ))
		name = "x-" + hex.EncodeToString(sum[:16])
	}
	return filepath.Join(f.dir, name+".age"), item
}

// readPass returns the passphrase prepare fetched, or asks for it now.
func (f *fileBackend) readPass() (string, error) {
	if f.pass != "" {
		return f.pass, nil
	}
	p, err := f.passphrase()
	if err != nil {
		return "", err
	}
	if len(p) == 0 {
		return "", hint.New(errors.New("empty passphrase for the file vault"), "set "+PassphraseEnv+" or type a passphrase at the prompt")
	}
	f.pass = string(p)
	return f.pass, nil
}

// prepare asks for the passphrase and unlocks the identity before the
// call, outside its time bound and the cross-process lock (a user typing at
// a prompt is not a hung backend), when the call will need it: to open an
// existing item file, or to write one.
func (f *fileBackend) prepare(op, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.id != nil || f.pass != "" {
		return nil
	}
	path, _ := f.split(key)
	if _, err := os.Stat(path); err != nil && op != "set" {
		return nil // nothing to open: get says not found, delete is done
	}
	if f.recall() {
		return nil
	}
	if _, err := f.readPass(); err != nil {
		return err
	}
	// Stretching the passphrase is CPU work, not a hang: it too happens
	// before the bound (seconds under the race detector). Creating a new
	// identity waits for the lock, in the call.
	if _, err := os.Stat(f.idPath); err == nil {
		_, err := f.identity(false)
		return err
	}
	return nil
}

// identity unlocks identity.age with the passphrase, once per store. With
// create, a vault without one gets a new identity sealed with the
// passphrase; without it, a missing identity means there is nothing to read.
func (f *fileBackend) identity(create bool) (*age.X25519Identity, error) {
	if f.id != nil {
		return f.id, nil
	}
	blob, err := os.ReadFile(f.idPath)
	if errors.Is(err, os.ErrNotExist) {
		if existing, _ := filepath.Glob(filepath.Join(f.dir, "*.age")); len(existing) > 0 {
			// Item files without their identity: a new identity would not
			// open them either; do not pretend the vault is new.
			create = false
		}
		if !create {
			return nil, hint.New(mark(ErrCorrupt, "%s is missing, so the item files cannot be opened", f.idPath),
				"restore it from a backup of AZKEEP_HOME; without it the file vault's items are lost (log in to the integrations again)")
		}
		return f.newIdentity()
	}
	if err != nil {
		return nil, err
	}
	if f.recall() {
		return f.id, nil
	}
	p, err := f.readPass()
	if err != nil {
		return nil, err
	}
	sid, err := age.NewScryptIdentity(p)
	if err != nil {
		return nil, err
	}
	sid.SetMaxWorkFactor(22)
	plain, err := ageDecrypt(blob, sid)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		f.pass = "" // ask again next time
		return nil, hint.New(mark(ErrWrongPassphrase, "%s does not open with this passphrase", f.idPath),
			"set "+PassphraseEnv+" (or type at the prompt) the passphrase the file vault was created with; azkeep left its files untouched")
	}
	if err != nil {
		return nil, hint.New(mark(ErrCorrupt, "%s cannot be decrypted (%v)", f.idPath, err),
			"restore it from a backup of AZKEEP_HOME; azkeep left it untouched")
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(plain)))
	if err != nil {
		return nil, hint.New(mark(ErrCorrupt, "%s holds no age identity", f.idPath),
			"restore it from a backup of AZKEEP_HOME; azkeep left it untouched")
	}
	f.id, f.pass = id, ""
	f.remember(blob)
	return id, nil
}

func (f *fileBackend) newIdentity() (*age.X25519Identity, error) {
	p, err := f.readPass()
	if err != nil {
		return nil, err
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	r, err := age.NewScryptRecipient(p)
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(f.workFactor)
	enc, err := ageEncrypt([]byte(id.String()+"\n"), r)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(f.idPath), fileutil.DirPerm); err != nil {
		return nil, err
	}
	if err := fileutil.WriteAtomic(f.idPath, enc, fileutil.FilePerm); err != nil {
		return nil, err
	}
	f.id, f.pass = id, ""
	f.remember(enc)
	return id, nil
}

// unlockedPrefix begins the kernel keyring description of every unlocked
// file vault identity; the rest is a digest of its sealed identity.age,
// so a replaced identity file (a new vault, a new passphrase) never meets
// an old key.
const unlockedPrefix = "azkeep:file-vault:"

func unlockedDesc(sealed []byte) string {
	sum := sha256.Sum256(sealed)
	return unlockedPrefix + hex.EncodeToString(sum[:16])
}

// recall unlocks the identity from the kernel keyring, where an earlier
// command of the login session left it, without the passphrase.
func (f *fileBackend) recall() bool {
	if f.unlockTTL <= 0 || f.id != nil {
		return f.id != nil
	}
	blob, err := os.ReadFile(f.idPath)
	if err != nil {
		return false
	}
	secret, ok := recallUnlocked(unlockedDesc(blob))
	if !ok {
		return false
	}
	id, err := age.ParseX25519Identity(strings.TrimSpace(string(secret)))
	if err != nil {
		return false
	}
	f.id = id
	return true
}

// remember keeps the unlocked identity in the kernel keyring for
// f.unlockTTL. A keyring that refuses (keyctl not permitted) only means
// the next command asks for the passphrase again.
func (f *fileBackend) remember(sealed []byte) {
	if f.unlockTTL <= 0 || f.id == nil {
		return
	}
	_ = rememberUnlocked(unlockedDesc(sealed), []byte(f.id.String()), f.unlockTTL)
}

// Lock forgets every file vault identity unlocked in this login session
// (the kernel keyring's), so that the next command asks for the
// passphrase; it returns how many it forgot.
func Lock() (int, error) { return forgetUnlocked(unlockedPrefix) }

// UnlockTTLEnv sets how long an unlocked file vault stays unlocked for
// the login session (a Go duration; 0 turns it off).
const UnlockTTLEnv = "AZKEEP_VAULT_UNLOCK_TTL"

// DefaultUnlockTTL is how long by default: a working day.
const DefaultUnlockTTL = 8 * time.Hour

// UnlockTTLFromEnv reads $AZKEEP_VAULT_UNLOCK_TTL (DefaultUnlockTTL when
// unset).
func UnlockTTLFromEnv() (time.Duration, error) {
	s := os.Getenv(UnlockTTLEnv)
	if s == "" {
		return DefaultUnlockTTL, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, hint.New(fmt.Errorf("%s=%q is not a duration", UnlockTTLEnv, s), "use a Go duration such as 8h, or 0 to ask for the passphrase on every command")
	}
	return d, nil
}

func ageEncrypt(plain []byte, r age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func ageDecrypt(blob []byte, id age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(blob), id)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// load returns the items of one integration file (nil, nil if missing).
func (f *fileBackend) load(path string) (map[string][]byte, error) {
	blob, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(blob)
	if c, ok := f.cache[path]; ok && c.sum == sum {
		return c.items, nil
	}
	id, err := f.identity(false)
	if err != nil {
		return nil, err
	}
	plain, err := ageDecrypt(blob, id)
	if err != nil {
		return nil, hint.New(mark(ErrCorrupt, "%s cannot be decrypted (%v)", path, err),
			"restore the file from a backup of AZKEEP_HOME, or move it away and log in to the integration again; azkeep left it untouched")
	}
	var fc fileContent
	if err := json.Unmarshal(plain, &fc); err != nil || fc.Version != 1 {
		return nil, hint.New(mark(ErrCorrupt, "%s decrypts but is not an azkeep vault file", path),
			"restore the file from a backup of AZKEEP_HOME; azkeep left it untouched")
	}
	if fc.Items == nil {
		fc.Items = map[string][]byte{}
	}
	if f.cache == nil {
		f.cache = map[string]fileCacheEntry{}
	}
	f.cache[path] = fileCacheEntry{sum: sum, items: fc.Items}
	return fc.Items, nil
}

func (f *fileBackend) save(path string, items map[string][]byte) error {
	if len(items) == 0 {
		delete(f.cache, path)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	plain, err := json.Marshal(fileContent{Version: 1, Items: items})
	if err != nil {
		return err
	}
	id, err := f.identity(true)
	if err != nil {
		return err
	}
	enc, err := ageEncrypt(plain, id.Recipient())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.dir, fileutil.DirPerm); err != nil {
		return err
	}
	if err := fileutil.WriteAtomic(path, enc, fileutil.FilePerm); err != nil {
		return err
	}
	if f.cache == nil {
		f.cache = map[string]fileCacheEntry{}
	}
	f.cache[path] = fileCacheEntry{sum: sha256.Sum256(enc), items: items}
	return nil
}

func (f *fileBackend) get(_ context.Context, key string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path, item := f.split(key)
	items, err := f.load(path)
	if err != nil {
		return nil, err
	}
	v, ok := items[item]
	if !ok {
		return nil, ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

func (f *fileBackend) set(_ context.Context, key string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	path, item := f.split(key)
	items, err := f.load(path)
	if err != nil {
		return err
	}
	next := make(map[string][]byte, len(items)+1)
	for k, v := range items {
		next[k] = v
	}
	next[item] = append([]byte(nil), data...)
	return f.save(path, next)
}

func (f *fileBackend) del(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	path, item := f.split(key)
	items, err := f.load(path)
	if err != nil {
		return err
	}
	if _, ok := items[item]; !ok {
		return nil
	}
	next := make(map[string][]byte, len(items))
	for k, v := range items {
		if k != item {
			next[k] = v
		}
	}
	return f.save(path, next)
}
