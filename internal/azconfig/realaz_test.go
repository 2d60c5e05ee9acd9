package azconfig_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// azkeep and the real az rewriting the same cache at the same time: az
// takes msal_token_cache.json.lockfile as UpdateTokenCache does, so no
// update of either is lost and the file always parses.
//
// az (msal-extensions' CrossPlatLock) waits at most 5 s, polling every
// 0.25 s, for the lock file to be gone; past that it goes on with an flock
// on whatever file is at that path, and a writer that then removes it and
// creates the next one holds the lock beside az. So the writer here pauses
// between its writes as a real one does (azkeep writes the cache once per
// start or rotation): with back-to-back writes under the race detector on a
// loaded machine, az saw the lock file at every poll for 5 s and an update
// was lost (CI, once in several runs).
func TestConcurrentWithRealAZ(t *testing.T) {
	testbed.RequireAZ(t)
	if testing.Short() {
		t.Skip("slow")
	}
	emu := testbed.Emulator(t, entraemu.Config{})
	tenant := emu.Tenants()[0]
	dir := testbed.NewConfigDir(t)
	testbed.LoginDeviceCode(t, emu, dir, tenant.ID)
	ctx := context.Background()
	resources := []string{"https://vault.azure.net", "https://storage.azure.com", "https://graph.microsoft.com"}
	var wg sync.WaitGroup
	wg.Add(2)
	azDone := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(azDone)
		for _, res := range resources {
			r := testbed.AZWithEnv(ctx, emu, dir, []string{"AZURE_CORE_USE_MSAL_HTTP_CACHE=false"},
				"account", "get-access-token", "--resource", res, "--output", "none")
			if !r.OK() {
				t.Errorf("az: %s", r)
			}
		}
	}()
	// Keep rewriting the cache for as long as az runs.
	n := 0
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-azDone:
				return
			default:
			}
			n++
			time.Sleep(40 * time.Millisecond)
			err := azconfig.UpdateTokenCache(ctx, dir, func(c *azconfig.TokenCache) error {
				c.PutAccount(&azconfig.Account{HomeAccountID: fmt.Sprintf("u%d.t", i), Environment: "login.example", Realm: "t", AuthorityType: azconfig.AuthorityMSSTS})
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	t.Logf("%d azkeep rewrites while az ran", n)
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Accounts.Len(); got != n+1 {
		t.Errorf("%d accounts, want %d: an update was lost", got, n+1)
	}
	if got := c.AccessTokens.Len(); got != 1+len(resources) {
		t.Errorf("%d access tokens, want %d: an az update was lost", got, 1+len(resources))
	}
}
