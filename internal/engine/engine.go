// Package engine defines what turns a refresh token into access tokens in an
// Azure CLI config dir. Two engines implement it: "az" (the seed's way, runs
// `az account get-access-token`) and "native" (the same OAuth 2.0 refresh
// grant made by azkeep itself, writing the cache entries az writes).
package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
)

// Request asks an engine for fresh access tokens. When Redeem is called the
// cache in ConfigDir already holds the Account and RefreshToken entries
// (written by the lifecycle, seed start step 3) and azureProfile.json names
// SubscriptionID as default (step 2).
type Request struct {
	ConfigDir      string
	Cloud          azure.Cloud
	TenantID       string
	SubscriptionID string
	// HomeAccountID is "<uid>.<utid>", the account's key prefix in the cache.
	HomeAccountID string
	// Resources are extra resources to prefetch besides ARM, e.g.
	// "https://vault.azure.net".
	Resources []string
	// Subscription is the subscription's azureProfile.json entry, as the
	// vault keeps it (what a Direct engine writes where it redeems).
	Subscription json.RawMessage
}

// Result is what a redemption produced.
type Result struct {
	// ExpiresOn is the ARM access token's expiry (seed start step 6).
	ExpiresOn time.Time
}

// Engine redeems refresh tokens. After Redeem returns, the cache in
// ConfigDir holds the new access token(s) and id token and a refresh token
// (rotated or not); the lifecycle then moves that refresh token to the vault
// and strips it from disk (steps 7–8).
type Engine interface {
	Name() string
	Redeem(ctx context.Context, req Request) (Result, error)
	// Logout removes every account and token from ConfigDir, as `az logout` does.
	Logout(ctx context.Context, configDir string) error
}

// Direct is an optional capability of an Engine: redeeming a refresh token
// handed to it rather than one written into the cache first, so that the
// refresh token never rests in the config dir, not even for the length of
// a request, and the cache is written once instead of three times (seed
// start steps 3–8 in one). The lifecycle uses it when the engine has it;
// the az engine cannot (az reads the refresh token from the cache).
type Direct interface {
	// RedeemDirect redeems refreshToken (the vault's item: a token-cache
	// fragment holding the account's RefreshToken entry) for the same
	// tokens Redeem gets. Before it writes anything it hands the newest
	// refresh token, rotated or not and in the same fragment form, to
	// keep, which stores it in the vault (step 7). It then writes
	// req.ConfigDir's cache in one update: the account's older access and
	// refresh tokens removed, account (a fragment with the Account and
	// AppMetadata entries) and the new access and id tokens added. When
	// keep fails, the refresh token is written into the cache as well, so
	// that a single-use token is not lost, and keep's error is returned.
	RedeemDirect(ctx context.Context, req Request, account, refreshToken []byte, keep func(refreshToken []byte) error) (Result, error)
}

// Unwrapper is an Engine standing in for another, such as the CLI's engine
// that finds az only when first used; Unwrap returns the real one.
type Unwrapper interface {
	Unwrap() (Engine, error)
}

// DirectOf returns e as a Direct engine when it (or the engine it stands
// in for) is one.
func DirectOf(e Engine) (Direct, bool) {
	if u, ok := e.(Unwrapper); ok {
		inner, err := u.Unwrap()
		if err != nil {
			return nil, false
		}
		e = inner
	}
	d, ok := e.(Direct)
	return d, ok
}
