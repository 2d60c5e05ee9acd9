package azconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/vault"
)

// libsecretAttrs are the attributes of the Secret Service item az keeps
// its token cache in with encryption on (msal-extensions' libsecret
// persistence as azure-cli configures it; DESIGN.md, "Token-cache
// encryption"). The schema attribute is written explicitly: libsecret
// searches by it, and an item without it is not found.
var libsecretAttrs = map[string]string{
	"xdg:schema": "my_schema_name",
	"my_attr1":   "foo",
	"my_attr2":   "bar",
}

// libsecretStore is az's token cache in the Secret Service: the secret is
// the JSON text msal_token_cache.json would hold, and an empty
// msal_token_cache.bin in the config dir signals it (az ignores the item
// without it, and takes its mtime as the cache's). The item is one per
// keyring, shared by every config dir with encryption on.
type libsecretStore struct {
	dir  string
	item *vault.SecretServiceItem
}

func newLibsecretStore(dir string) *libsecretStore {
	return &libsecretStore{dir: dir, item: vault.NewSecretServiceItem("", libsecretAttrs)}
}

func (s *libsecretStore) signal() string { return filepath.Join(s.dir, TokenCacheBin) }

// lockPath is the lock msal-extensions takes: the signal file's.
func (s *libsecretStore) lockPath() string { return s.signal() + LockSuffix }

func (s *libsecretStore) String() string {
	return "the Secret Service item az reads with " + s.signal()
}

// read asks the Secret Service even without the signal file, so that a
// service that does not answer is found before anything is written.
func (s *libsecretStore) read() ([]byte, error) {
	v, err := s.item.Get()
	if errors.Is(err, vault.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, encryptedCacheError(s.dir, Libsecret, err)
	}
	if _, err := os.Stat(s.signal()); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return []byte(v), nil
}

func (s *libsecretStore) write(data []byte, _ bool) error {
	if err := s.item.Set(string(data)); err != nil {
		return encryptedCacheError(s.dir, Libsecret, err)
	}
	if err := fileutil.WriteAtomic(s.signal(), nil, fileutil.FilePerm); err != nil {
		return err
	}
	return stampNow(s.signal())
}
