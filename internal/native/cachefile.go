package native

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
)

// cacheLockWait bounds the wait for az's cache lock.
const cacheLockWait = 30 * time.Second

func loadCache(dir string) (*azconfig.TokenCache, error) { return azconfig.LoadTokenCache(dir) }

// updateCache is the read-modify-write of dir's token cache under az's
// lock, written atomically in az's format. It deliberately takes no
// caller context: once the endpoint has answered, the (possibly rotated,
// single-use) refresh token must reach the cache even if the caller is
// being cancelled; only the wait for az's lock is bounded.
func updateCache(dir string, fn func(*azconfig.TokenCache) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), cacheLockWait)
	defer cancel()
	return azconfig.UpdateTokenCache(ctx, dir, fn)
}

// removeServicePrincipals deletes what logout_all_service_principal
// deletes in azure-cli 2.45 (the file holds client secrets in plain text).
func removeServicePrincipals(dir string) error {
	for _, name := range []string{"service_principal_entries.json", "service_principal_entries.bin"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
