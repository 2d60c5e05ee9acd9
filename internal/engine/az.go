package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
)

// AZRunner runs the Azure CLI; *azcli.Runner implements it. (An interface
// because azcli sits above this package.)
type AZRunner interface {
	// RunIn runs az with args and AZURE_CONFIG_DIR=configDir and returns
	// its stdout; token marks a call that redeems tokens (MSAL HTTP cache
	// off, stdout secret). Failures are typed, a rejected refresh token
	// being an *azure.NeedsLoginError.
	RunIn(ctx context.Context, configDir string, token bool, args ...string) ([]byte, error)
}

// AZ is the "az" engine, the seed's way: it runs `az account
// get-access-token` in the config dir and lets the Azure CLI redeem the
// refresh token and write the cache itself.
type AZ struct {
	runner AZRunner
}

// NewAZ returns the az engine running az through runner (whose Options.Env
// carries anything az needs besides AZURE_CONFIG_DIR, such as an
// emulator's proxy).
func NewAZ(runner AZRunner) *AZ { return &AZ{runner: runner} }

// Name is "az".
func (a *AZ) Name() string { return "az" }

// Redeem runs `az account get-access-token --subscription S` (seed, start
// step 4), then once per extra resource with --resource, all with
// AZURE_CONFIG_DIR = req.ConfigDir and the MSAL HTTP cache off. The ARM
// token's expiry is read from the cache az wrote (step 6): the entry's
// expires_on is epoch seconds, where az's printed expiresOn is a local time
// without a zone.
func (a *AZ) Redeem(ctx context.Context, req Request) (Result, error) {
	if req.ConfigDir == "" || req.SubscriptionID == "" {
		return Result{}, errors.New("az engine: ConfigDir and SubscriptionID are required")
	}
	out, err := a.runner.RunIn(ctx, req.ConfigDir, true,
		"account", "get-access-token", "--subscription", req.SubscriptionID, "--output", "json")
	if err != nil {
		return Result{}, err
	}
	for _, res := range req.Resources {
		if _, err := a.runner.RunIn(ctx, req.ConfigDir, true,
			"account", "get-access-token", "--subscription", req.SubscriptionID, "--resource", res, "--output", "json"); err != nil {
			return Result{}, fmt.Errorf("token for %s: %w", res, err)
		}
	}
	exp, err := armExpiry(req)
	if err == nil {
		return Result{ExpiresOn: exp}, nil
	}
	// Fall back to what az printed (expires_on in newer az versions).
	if exp, perr := printedExpiry(out); perr == nil {
		return Result{ExpiresOn: exp}, nil
	}
	return Result{}, err
}

// armExpiry finds the ARM access token in the cache: the entry of the
// account (any account when HomeAccountID is empty) in the tenant whose
// target holds "<ARM resource>/.default", the latest if several.
func armExpiry(req Request) (time.Time, error) {
	c, err := azconfig.LoadTokenCache(req.ConfigDir)
	if err != nil {
		return time.Time{}, err
	}
	return armExpiryIn(c, req)
}

// armExpiryIn is armExpiry on a cache already read.
func armExpiryIn(c *azconfig.TokenCache, req Request) (time.Time, error) {
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

// printedExpiry reads expires_on (epoch seconds, az ≥ 2.54) from az's
// output; az 2.45 prints only expiresOn as a local time, parsed last.
func printedExpiry(stdout []byte) (time.Time, error) {
	var v struct {
		ExpiresOnEpoch json.Number `json:"expires_on"`
		ExpiresOn      string      `json:"expiresOn"`
	}
	if err := json.Unmarshal(stdout, &v); err != nil {
		return time.Time{}, errors.New("az printed no JSON")
	}
	if n, err := v.ExpiresOnEpoch.Int64(); err == nil && n > 0 {
		return time.Unix(n, 0), nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", v.ExpiresOn, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("az printed no expiry")
}

// Logout runs `az logout` in configDir (seed: stop session). When az
// fails — "There are no active accounts", or offline, where az clears the
// profile but keeps the tokens, or az is gone — azkeep removes the same
// entries itself, so stopping never leaves a token behind; only a failure
// of that cleanup (or a cancellation) is returned.
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
// az: every account and token leaves the token cache (AppMetadata stays)
// and azureProfile.json keeps no subscription.
func LogoutFiles(ctx context.Context, configDir string) error {
	if err := azconfig.UpdateTokenCache(ctx, configDir, func(c *azconfig.TokenCache) error {
		c.RemoveAll()
		return nil
	}); err != nil {
		return err
	}
	return azconfig.ClearSubscriptions(ctx, configDir)
}
