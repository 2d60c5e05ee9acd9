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

	"filippo.io/age"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
)

// PassphraseEnv is the environment variable the file backend reads its
// passphrase from when Options.Passphrase is nil.
const PassphraseEnv = "AZKEEP_VAULT_PASSPHRASE"

// DefaultScryptWorkFactor is the file backend's scrypt cost (log2 N) for new
// files: 2^16 uses 64 MiB and about a quarter of a second, once per write
// and once per process per file read (decrypted files are cached in memory).
// age's own default, 18, costs 256 MiB per call.
const DefaultScryptWorkFactor = 16

// fileBackend keeps one age file per integration, encrypted to a passphrase
// with scrypt: <Home>/vault/file/<integration>.age holds a JSON object of
// that integration's items. Keys without a '/' get a file of their own. The
// files are standard age files: `age -d` opens them with the passphrase.
//
// A verifier file, passphrase.age, is written with the first item: a new
// integration file is only written after the passphrase opened it, so one
// vault never holds files under two passphrases.
type fileBackend struct {
	dir        string
	passphrase func() ([]byte, error)
	workFactor int

	mu       sync.Mutex
	pass     string // once read and verified
	verified bool
	cache    map[string]fileCacheEntry // path -> last decrypted content
}

type fileCacheEntry struct {
	sum   [32]byte
	items map[string][]byte
}

type fileContent struct {
	Version int               `json:"version"`
	Items   map[string][]byte `json:"items"`
}

const verifierText = "azkeep file vault v1\n"

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// split maps a key to its integration file and the item inside it.
func (f *fileBackend) split(key string) (path, item string) {
	integ, item, _ := strings.Cut(key, "/")
	name := integ
	if !safeName.MatchString(integ) || strings.HasSuffix(integ, ".age") || integ == "passphrase" {
		sum := sha256.Sum256([]byte(integ))
		name = "x-" + hex.EncodeToString(sum[:16])
	}
	return filepath.Join(f.dir, name+".age"), item
}

func (f *fileBackend) verifierPath() string { return filepath.Join(f.dir, "passphrase.age") }

// readPass returns the passphrase, asking for it once per store.
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

func (f *fileBackend) identity() (*age.ScryptIdentity, error) {
	p, err := f.readPass()
	if err != nil {
		return nil, err
	}
	id, err := age.NewScryptIdentity(p)
	if err != nil {
		return nil, err
	}
	id.SetMaxWorkFactor(22)
	return id, nil
}

func (f *fileBackend) encrypt(plain []byte) ([]byte, error) {
	p, err := f.readPass()
	if err != nil {
		return nil, err
	}
	r, err := age.NewScryptRecipient(p)
	if err != nil {
		return nil, err
	}
	r.SetWorkFactor(f.workFactor)
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

// decrypt opens an age file. A wrong passphrase and a damaged file are told
// apart: age reports the first as no identity matching.
func (f *fileBackend) decrypt(path string, blob []byte) ([]byte, error) {
	id, err := f.identity()
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(blob), id)
	if err == nil {
		var plain []byte
		plain, err = io.ReadAll(r)
		if err == nil {
			return plain, nil
		}
	}
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		f.pass = ""
		return nil, hint.New(fmt.Errorf("%w: %s does not open with this passphrase", ErrWrongPassphrase, path),
			"set "+PassphraseEnv+" (or type at the prompt) the passphrase the file vault was created with; azkeep left the file untouched")
	}
	return nil, hint.New(fmt.Errorf("%w: %s cannot be decrypted (%v)", ErrCorrupt, path, err),
		"restore the file from a backup of AZKEEP_HOME, or move it away and log in to the integration again; azkeep left it untouched")
}

// verify checks the passphrase against the verifier, creating it (with the
// current passphrase) for a new vault.
func (f *fileBackend) verify() error {
	if f.verified {
		return nil
	}
	blob, err := os.ReadFile(f.verifierPath())
	if errors.Is(err, os.ErrNotExist) {
		enc, err := f.encrypt([]byte(verifierText))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(f.dir, fileutil.DirPerm); err != nil {
			return err
		}
		if err := fileutil.WriteAtomic(f.verifierPath(), enc, fileutil.FilePerm); err != nil {
			return err
		}
		f.verified = true
		return nil
	}
	if err != nil {
		return err
	}
	plain, err := f.decrypt(f.verifierPath(), blob)
	if err != nil {
		return err
	}
	if string(plain) != verifierText {
		return hint.New(fmt.Errorf("%w: %s has unexpected content", ErrCorrupt, f.verifierPath()),
			"restore it from a backup of AZKEEP_HOME")
	}
	f.verified = true
	return nil
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
	plain, err := f.decrypt(path, blob)
	if err != nil {
		return nil, err
	}
	var fc fileContent
	if err := json.Unmarshal(plain, &fc); err != nil || fc.Version != 1 {
		return nil, hint.New(fmt.Errorf("%w: %s decrypts but is not an azkeep vault file", ErrCorrupt, path),
			"restore the file from a backup of AZKEEP_HOME; azkeep left it untouched")
	}
	if fc.Items == nil {
		fc.Items = map[string][]byte{}
	}
	f.verified = true // it opened with this passphrase
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
	enc, err := f.encrypt(plain)
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
	if err := f.verify(); err != nil {
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
