package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/fileutil"
)

// AZRunner runs the Azure CLI; *azcli.Runner implements it. (An interface
// because azcli sits above this package.)
type AZRunner interface {
	// RunIn runs az with args and AZURE_CONFIG_DIR=configDir and returns
	// its stdout; token marks a call that redeems tokens (MSAL HTTP cache
	// off, stdout secret). Failures are typed, a rejected refresh token
	// being an *azure.NeedsLoginError.
	RunIn(ctx context.Context, configDir string, token bool, args ...string) ([]byte, error)
	// RunPrivate runs a token call in a config dir only azkeep uses (the
	// staging dir): MSAL's HTTP cache then stays on, and is deleted after
	// a failure.
	RunPrivate(ctx context.Context, configDir string, args ...string) ([]byte, error)
}

// AZ is the "az" engine, the seed's way: `az account get-access-token`
// redeems the refresh token and writes the cache. It runs az in a config
// dir of azkeep's own (its staging dir), never in the target dir:
//
//   - the refresh token never enters the target dir, where the user's own
//     az could read it, race for it (single-use refresh tokens) or copy it
//     into msal_http_cache.bin (MSAL pickles a failed request there,
//     refresh token included);
//   - az keeps MSAL's HTTP cache on in the staging dir, where no other az
//     runs, so it does not fetch the discovery documents again on every
//     call; after a failed call the runner deletes that cache (see
//     azcli.Call.Private);
//   - the target's token cache is written once, with az's own entries.
//
// The staging dir holds the refresh token only while az runs, and never a
// token cache after Redeem returns. One redemption at a time uses it (a
// lock in the dir).
type AZ struct {
	runner AZRunner
	// Dir is the staging config dir, created 0700 (e.g. $AZKEEP_HOME/az).
	Dir string
	// Warn receives one line per extra resource whose token az could not
	// get while ARM succeeded (nil: discarded).
	Warn io.Writer
}

// NewAZ returns the az engine running az through runner (whose Options.Env
// carries anything az needs besides AZURE_CONFIG_DIR, such as an
// emulator's proxy) in the staging dir dir.
func NewAZ(runner AZRunner, dir string) *AZ { return &AZ{runner: runner, Dir: dir} }

// Name is "az".
func (a *AZ) Name() string { return "az" }

// stagingLock is the lock file, in the staging dir, of a redemption.
const stagingLock = ".azkeep-staging.lock"

// Redeem implements Engine: the seed's start steps 2–8 in the staging dir,
// then az's access and id token entries copied to req.ConfigDir's cache in
// one write.
func (a *AZ) Redeem(ctx context.Context, req Request) (Result, error) {
	if a.Dir == "" || req.ConfigDir == "" || req.SubscriptionID == "" || len(req.Subscription) == 0 {
		return Result{}, errors.New("az engine: staging dir, config dir and subscription are required")
	}
	af, err := azconfig.ParseTokenCache(req.Account)
	if err != nil {
		return Result{}, fmt.Errorf("account from the vault: %w", err)
	}
	rf, err := azconfig.ParseTokenCache(req.RefreshToken)
	if err != nil {
		return Result{}, fmt.Errorf("refresh token from the vault: %w", err)
	}
	unlock, err := fileutil.Lock(ctx, filepath.Join(a.Dir, stagingLock))
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	// Step 8, whatever happens: no token cache stays in the staging dir.
	defer removeTokenCache(a.Dir)
	// Steps 2–3 in the staging dir: the subscription alone in the
	// profile, the account and refresh token in the cache.
	if err := a.prepare(ctx, req, af, rf); err != nil {
		return Result{}, fmt.Errorf("prepare the staging dir %s: %w", a.Dir, err)
	}

	// Steps 4–5: az redeems the refresh token for the subscription (and
	// each extra resource) and writes the access and id tokens. One az at
	// a time: they share the staging dir's cache and its refresh token.
	resources := req.Resources
	if !req.ResourcesOnly {
		if _, err := a.run(ctx, "account", "get-access-token", "--subscription", req.SubscriptionID, "--output", "json"); err != nil {
			return Result{}, err
		}
	} else if len(resources) == 0 {
		return Result{}, errors.New("az engine: no resource to redeem for")
	}
	for i, res := range resources {
		if _, err := a.run(ctx, "account", "get-access-token", "--subscription", req.SubscriptionID, "--resource", res, "--output", "json"); err != nil {
			if req.ResourcesOnly && i == 0 {
				return Result{}, fmt.Errorf("token for %s: %w", res, err)
			}
			// The ARM token (and the rotated refresh token) must still
			// reach their places: a prefetch is not worth failing for.
			if a.Warn != nil {
				fmt.Fprintf(a.Warn, "azkeep: warning: no access token for %s: %v\n", res, err)
			}
		}
	}
	c, err := azconfig.LoadTokenCache(a.Dir)
	if err != nil {
		return Result{}, err
	}
	// Step 6: the ARM token's expiry, from the cache az wrote.
	var exp time.Time
	if !req.ResourcesOnly {
		if exp, err = armExpiry(c, req); err != nil {
			return Result{}, err
		}
	}
	rt, ok := c.RefreshToken(req.HomeAccountID, "", azure.AzureCLIClientID)
	if !ok {
		return Result{}, fmt.Errorf("az left no refresh token for account %s in the staging dir %s", req.HomeAccountID, a.Dir)
	}
	frag := &azconfig.TokenCache{}
	frag.PutRefreshToken(rt)
	newRT, err := frag.Marshal()
	if err != nil {
		return Result{}, err
	}
	// Step 7 before anything reaches the target.
	keepErr := req.Keep(newRT)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err = azconfig.UpdateTokenCache(wctx, req.ConfigDir, func(t *azconfig.TokenCache) error {
		if req.Replace {
			t.RemoveAll()
		}
		req.AdoptAccounts(t, af)
		t.RemoveRefreshTokens(req.HomeAccountID)
		for k, m := range c.AppMetadata.All() {
			t.AppMetadata.Put(k, m)
		}
		for k, at := range c.AccessTokens.All() {
			t.AccessTokens.Put(k, at)
		}
		for k, id := range c.IDTokens.All() {
			t.IDTokens.Put(k, id)
		}
		if keepErr != nil {
			t.PutRefreshToken(rt)
		}
		return nil
	})
	if err != nil {
		if keepErr != nil {
			return Result{}, errors.Join(keepErr, err)
		}
		return Result{}, err
	}
	if keepErr != nil {
		return Result{}, keepErr
	}
	if req.Replace {
		if err := RemoveServicePrincipals(req.ConfigDir); err != nil {
			return Result{}, err
		}
	}
	return Result{ExpiresOn: exp}, nil
}

// prepare makes the staging dir what the target dir is for az (its config
// and clouds, broker off) with the session's subscription alone in the
// profile and a token cache holding only the account and refresh token.
func (a *AZ) prepare(ctx context.Context, req Request, af, rf *azconfig.TokenCache) error {
	if err := azconfig.PrepareDir(a.Dir, req.ConfigDir); err != nil {
		return err
	}
	var sub azconfig.Subscription
	if err := json.Unmarshal(req.Subscription, &sub); err != nil {
		return fmt.Errorf("subscription from the vault: %w", err)
	}
	if err := azconfig.WriteSingleSubscription(ctx, a.Dir, sub); err != nil {
		return err
	}
	cloud := req.Cloud.Name
	if cloud == "" {
		cloud = azconfig.DefaultCloud
	}
	if err := azconfig.SetCloudSubscription(a.Dir, cloud, sub.ID); err != nil {
		return err
	}
	return azconfig.UpdateTokenCache(ctx, a.Dir, func(c *azconfig.TokenCache) error {
		c.RemoveAll()
		c.AdoptAccounts(af)
		for _, rt := range rf.RefreshTokens.All() {
			c.PutRefreshToken(rt)
		}
		return nil
	})
}

func (a *AZ) run(ctx context.Context, args ...string) ([]byte, error) {
	return a.runner.RunPrivate(ctx, a.Dir, args...)
}

// removeTokenCache deletes the staging dir's token cache (and its lock
// file), refresh token and all.
func removeTokenCache(dir string) {
	for _, name := range []string{azconfig.TokenCacheJSON, azconfig.TokenCacheBin} {
		os.Remove(filepath.Join(dir, name))
		os.Remove(filepath.Join(dir, name+azconfig.LockSuffix))
	}
}

// armExpiry finds the ARM access token in c: the entry of the account (any
// account when HomeAccountID is empty) in the tenant whose target holds
// "<ARM resource>/.default", the latest if several. The entry's expires_on
// is epoch seconds, where az 2.45's printed expiresOn is a local time
// without a zone.
func armExpiry(c *azconfig.TokenCache, req Request) (time.Time, error) {
	resource := req.Cloud.ARMResource
	if resource == "" {
		resource = azure.AzureCloud.ARMResource
	}
	scope := resource + "/.default" // az's resource_to_scopes: "…windows.net/" + "/.default"
	find := func(tenant string) time.Time {
		var best time.Time
		for _, at := range c.AccessTokens.All() {
			if req.HomeAccountID != "" && !strings.EqualFold(at.HomeAccountID, req.HomeAccountID) {
				continue
			}
			if tenant != "" && !strings.EqualFold(at.Realm, tenant) {
				continue
			}
			if !hasScope(at.Target, scope) {
				continue
			}
			exp, err := at.ExpiresAt()
			if err == nil && exp.After(best) {
				best = exp
			}
		}
		return best
	}
	best := find(req.TenantID)
	if best.IsZero() && req.TenantID != "" {
		// TenantID may be a domain; the cache's realm is the tenant's GUID.
		best = find("")
	}
	if best.IsZero() {
		return time.Time{}, fmt.Errorf("az returned a token but %s holds no ARM access token for tenant %s (is a broker such as WAM enabled?)", azconfig.TokenCacheJSON, req.TenantID)
	}
	return best, nil
}

func hasScope(target, scope string) bool {
	for _, s := range strings.Fields(target) {
		if strings.EqualFold(s, scope) {
			return true
		}
	}
	return false
}

// Logout runs `az logout` in configDir (seed: stop session). When az
// fails — "There are no active accounts", or offline, where az clears the
// profile but keeps the tokens, or az is gone — azkeep removes the same
// entries itself (LogoutFiles), so stopping never leaves a token behind;
// only a failure of that cleanup (or a cancellation) is returned.
func (a *AZ) Logout(ctx context.Context, configDir string) error {
	_, err := a.runner.RunIn(ctx, configDir, false, "logout")
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	if cerr := LogoutFiles(ctx, configDir); cerr != nil {
		return errors.Join(err, cerr)
	}
	return nil
}

// LogoutFiles does to configDir's files what `az logout` does, without
// az (observed with az 2.45): MSAL's remove_account for each account
// (refresh, access and id tokens and the account entries; the sections
// stay, empty, and AppMetadata stays, so the token cache file remains),
// service_principal_entries.json deleted (logout_all_service_principal:
// the file holds client secrets in plain text), and the profile's
// subscriptions emptied (installationId stays). Both engines log out
// with it.
func LogoutFiles(ctx context.Context, configDir string) error {
	if err := azconfig.UpdateTokenCache(ctx, configDir, func(c *azconfig.TokenCache) error {
		c.RemoveAll()
		return nil
	}); err != nil {
		return err
	}
	if err := RemoveServicePrincipals(configDir); err != nil {
		return err
	}
	return azconfig.ClearSubscriptions(ctx, configDir)
}

// RemoveServicePrincipals deletes configDir's service principal entries
// (client secrets in plain text), as `az logout` does.
func RemoveServicePrincipals(configDir string) error {
	for _, name := range []string{"service_principal_entries.json", "service_principal_entries.bin"} {
		if err := os.Remove(filepath.Join(configDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
