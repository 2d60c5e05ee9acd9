// Package engine defines what turns a vault's refresh token into access
// tokens in an Azure CLI config dir without the refresh token ever resting
// there. Two engines implement it: "az" (the seed's way, runs `az account
// get-access-token` in a staging dir of azkeep's own) and "native"
// (internal/native: the same OAuth 2.0 refresh grant made by azkeep
// itself, writing the cache entries az writes).
package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
)

// Request asks an engine for fresh access tokens in ConfigDir, redeeming
// RefreshToken (seed, start steps 3–8). The lifecycle has written nothing
// into ConfigDir's token cache for it: the engine writes the account and
// the new tokens there itself, and never the refresh token.
type Request struct {
	ConfigDir      string
	Cloud          azure.Cloud
	TenantID       string
	SubscriptionID string
	// HomeAccountID is "<uid>.<utid>", the account's key prefix in the cache.
	HomeAccountID string
	// Resources are resources to prefetch besides ARM, e.g.
	// "https://vault.azure.net": the integration's, plus any a caller
	// asks for (the managed-identity endpoint of `azkeep exec --server`).
	Resources []string
	// ResourcesOnly redeems for Resources alone, without the ARM token:
	// one access token asked for on demand (azkeep token), added to
	// ConfigDir's cache beside the tokens already there.
	ResourcesOnly bool
	// Subscription is the subscription's azureProfile.json entry, as the
	// vault keeps it.
	Subscription json.RawMessage
	// Account is the vault's account item: a token-cache fragment holding
	// the Account and AppMetadata entries.
	Account []byte
	// RefreshToken is the vault's refresh-token item: a token-cache
	// fragment holding the account's RefreshToken entry.
	RefreshToken []byte
	// Replace makes the cache write also remove every other account and
	// token in ConfigDir, and its service principals, as Logout would have
	// just before (a switch: the stop of the session there and this start
	// in one write of each file). Nothing is removed if the redemption
	// fails.
	Replace bool
	// Keep stores the newest refresh token, rotated or not and in the same
	// fragment form, in the vault (seed, start step 7). The engine calls it
	// once the endpoint has answered and before it writes ConfigDir.
	Keep func(refreshToken []byte) error
}

// AdoptAccounts puts the account entries of the vault's account item into
// c, the config dir's cache: first removing the account's older access
// tokens (the seed's "remove access token"), except for a ResourcesOnly
// request, whose token joins the ones the dir holds.
func (r Request) AdoptAccounts(c, account *azconfig.TokenCache) {
	if r.ResourcesOnly {
		c.MergeAccounts(account)
		return
	}
	c.AdoptAccounts(account)
}

// Result is what a redemption produced.
type Result struct {
	// ExpiresOn is the ARM access token's expiry (seed start step 6);
	// zero for a Request with ResourcesOnly.
	ExpiresOn time.Time
}

// Engine redeems refresh tokens and logs a config dir out.
type Engine interface {
	// Name is the engine's --engine name.
	Name() string
	// Redeem redeems req.RefreshToken for an ARM access token (and one per
	// resource of req.Resources; only those with req.ResourcesOnly), as
	// concurrently as the engine can while keeping the newest refresh
	// token; a failed extra resource is a warning, not an error. It hands the newest refresh token to
	// req.Keep, then writes req.ConfigDir's cache in one update: the
	// account's older access and refresh tokens removed, the account (from
	// req.Account) and the new access and id tokens added. No refresh
	// token is written to req.ConfigDir, except when Keep fails: then it
	// is written there, so that a single-use token is not lost, and Keep's
	// error is returned.
	Redeem(ctx context.Context, req Request) (Result, error)
	// Logout removes every account and token from configDir, as `az
	// logout` does.
	Logout(ctx context.Context, configDir string) error
}
