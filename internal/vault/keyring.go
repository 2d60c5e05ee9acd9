package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
)

// keyringKV is one OS keyring seen as a string map: the Secret Service, the
// macOS Keychain or the Windows Credential Manager. Implementations keep one
// handle for the life of the store.
type keyringKV interface {
	get(ctx context.Context, key string) (string, error) // ErrNotFound when missing
	set(ctx context.Context, key, value string) error
	del(ctx context.Context, key string) error // ErrNotFound when missing
}

// Values in an OS keyring are one of two strings:
//
//	azkeep:v1:inline:<base64 of the secret>
//	azkeep:v1:sealed:<base64 of a 32-byte data key>:<file name>
//
// A secret whose inline form fits the keyring's per-item limit is kept
// whole in the keyring. A larger one is sealed with AES-256-GCM under a
// fresh random data key into <Home>/vault/<backend>/sealed/<file name>
// (0600), and the keyring item holds the data key and the file's name: the
// file alone reveals nothing, and deleting the keyring item makes it
// unreadable. docs/security.md has the threat model.
const (
	inlinePrefix = "azkeep:v1:inline:"
	sealedPrefix = "azkeep:v1:sealed:"
)

// keyringBackend stores secrets of any size in a keyringKV.
type keyringBackend struct {
	name  string
	kv    keyringKV
	limit int    // longest value string the keyring takes in one item
	dir   string // sealed files
}

func (k *keyringBackend) sealedDir() string { return filepath.Join(k.dir, "sealed") }

func (k *keyringBackend) get(ctx context.Context, key string) ([]byte, error) {
	v, err := k.kv.get(ctx, key)
	if err != nil {
		return nil, err
	}
	return k.decode(key, v)
}

func (k *keyringBackend) decode(key, v string) ([]byte, error) {
	switch {
	case strings.HasPrefix(v, inlinePrefix):
		data, err := base64.StdEncoding.DecodeString(v[len(inlinePrefix):])
		if err != nil {
			return nil, hint.New(mark(ErrCorrupt, "the stored value is not valid base64"),
				"delete the item and store it again (azkeep integration login)")
		}
		return data, nil
	case strings.HasPrefix(v, sealedPrefix):
		dk, file, err := parseSealed(v)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(k.sealedDir(), file)
		blob, err := os.ReadFile(path)
		if err != nil {
			return nil, hint.New(mark(ErrCorrupt, "sealed file %s: %v", path, err),
				"restore the file from a backup of AZKEEP_HOME, or log in to the integration again")
		}
		data, err := openSealed(dk, blob, k.aad(key))
		if err != nil {
			return nil, hint.New(mark(ErrCorrupt, "sealed file %s does not open with its key (%v)", path, err),
				"restore the file from a backup of AZKEEP_HOME, or log in to the integration again; azkeep left it untouched")
		}
		return data, nil
	}
	return nil, hint.New(mark(ErrCorrupt, "the keyring item was not written by azkeep"),
		"delete the item from the keyring, then store it again")
}

func (k *keyringBackend) set(ctx context.Context, key string, data []byte) error {
	old, err := k.kv.get(ctx, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	value := inlinePrefix + base64.StdEncoding.EncodeToString(data)
	if len(value) > k.limit {
		// Too large for one item: seal it into a new file first, then point
		// the keyring at it. A crash in between leaves an unreferenced file,
		// never an item without its data.
		dk := make([]byte, 32)
		if _, err := rand.Read(dk); err != nil {
			return err
		}
		name := make([]byte, 16)
		if _, err := rand.Read(name); err != nil {
			return err
		}
		file := hex.EncodeToString(name) + ".sealed"
		blob, err := seal(dk, data, k.aad(key))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(k.sealedDir(), fileutil.DirPerm); err != nil {
			return err
		}
		if err := fileutil.WriteAtomic(filepath.Join(k.sealedDir(), file), blob, fileutil.FilePerm); err != nil {
			return err
		}
		value = sealedPrefix + base64.StdEncoding.EncodeToString(dk) + ":" + file
		if err := k.kv.set(ctx, key, value); err != nil {
			os.Remove(filepath.Join(k.sealedDir(), file))
			return err
		}
	} else if err := k.kv.set(ctx, key, value); err != nil {
		return err
	}
	k.removeSealed(old)
	return nil
}

func (k *keyringBackend) del(ctx context.Context, key string) error {
	old, err := k.kv.get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := k.kv.del(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	k.removeSealed(old)
	return nil
}

// removeSealed deletes the file an old keyring value pointed to, if any.
func (k *keyringBackend) removeSealed(old string) {
	if !strings.HasPrefix(old, sealedPrefix) {
		return
	}
	if _, file, err := parseSealed(old); err == nil {
		os.Remove(filepath.Join(k.sealedDir(), file))
	}
}

// aad binds a sealed file to its backend and key: a file moved under another
// item does not open.
func (k *keyringBackend) aad(key string) []byte {
	return []byte("azkeep sealed v1\x00" + k.name + "\x00" + key)
}

func parseSealed(v string) (dk []byte, file string, err error) {
	rest := v[len(sealedPrefix):]
	i := strings.IndexByte(rest, ':')
	bad := hint.New(mark(ErrCorrupt, "malformed sealed reference in the keyring item"),
		"delete the item and store it again (azkeep integration login)")
	if i < 0 {
		return nil, "", bad
	}
	dk, err = base64.StdEncoding.DecodeString(rest[:i])
	file = rest[i+1:]
	if err != nil || len(dk) != 32 || file == "" || strings.ContainsAny(file, `/\`) || strings.HasPrefix(file, ".") {
		return nil, "", bad
	}
	return dk, file, nil
}

// sealed file layout: "azkeep-sealed-v1\n" | 12-byte nonce | AES-256-GCM ciphertext.
const sealedMagic = "azkeep-sealed-v1\n"

// newGCM is the AES-256-GCM cipher of the data key dk, for seal and
// openSealed alike.
func newGCM(dk []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(dk)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func seal(dk, data, aad []byte) ([]byte, error) {
	gcm, err := newGCM(dk)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte(sealedMagic), nonce...)
	return gcm.Seal(out, nonce, data, aad), nil
}

func openSealed(dk, blob, aad []byte) ([]byte, error) {
	gcm, err := newGCM(dk)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(string(blob[:min(len(blob), len(sealedMagic))]), sealedMagic) || len(blob) < len(sealedMagic)+gcm.NonceSize() {
		return nil, errors.New("not an azkeep sealed file")
	}
	blob = blob[len(sealedMagic):]
	return gcm.Open(nil, blob[:gcm.NonceSize()], blob[gcm.NonceSize():], aad)
}
