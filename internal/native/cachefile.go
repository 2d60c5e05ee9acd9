package native

import (
	"context"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
)

// cacheLockWait bounds the wait for az's cache lock.
const cacheLockWait = 30 * time.Second

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
