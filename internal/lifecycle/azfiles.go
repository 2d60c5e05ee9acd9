package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
)

// AZFiles is Files on the Azure CLI's real files, through internal/azconfig.
//
// The vault's refresh-token and account items are token-cache fragments: a
// msal_token_cache.json holding only the RefreshToken entry (resp. the
// Account and AppMetadata entries), so every field az wrote — known or not
// — travels through the vault and back unchanged.
type AZFiles struct{}

// fileTimeout bounds a wait for az's token cache lock.
const fileTimeout = 30 * time.Second

func fileCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), fileTimeout)
}

// ReadLogin implements Files.
func (AZFiles) ReadLogin(dir string) (*LoginData, error) {
	cache, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		return nil, err
	}
	prof, err := azconfig.LoadProfile(dir)
	if err != nil {
		return nil, err
	}
	return loginData(cache, prof)
}

// loginData picks a login's account, its refresh token and the profile's
// subscriptions out of a token cache and a profile, wherever they came
// from (a private login dir, or another tool's keychain items).
func loginData(cache *azconfig.TokenCache, prof *azconfig.Profile) (*LoginData, error) {
	var err error
	var acct *azconfig.Account
	for _, a := range cache.Accounts.All() {
		if acct != nil && !strings.EqualFold(a.HomeAccountID, acct.HomeAccountID) {
			return nil, errors.New("the login left more than one account in the token cache")
		}
		if acct == nil {
			acct = a
		}
	}
	if acct == nil {
		return nil, errors.New("the login left no account in the token cache")
	}
	ld := &LoginData{HomeAccountID: acct.HomeAccountID, Username: acct.Username, TenantID: acct.Realm}

	af := &azconfig.TokenCache{}
	for _, a := range cache.Accounts.All() {
		if strings.EqualFold(a.HomeAccountID, acct.HomeAccountID) {
			af.PutAccount(a)
		}
	}
	for k, m := range cache.AppMetadata.All() {
		af.AppMetadata.Put(k, m)
	}
	if ld.Account, err = af.Marshal(); err != nil {
		return nil, err
	}

	rf := &azconfig.TokenCache{}
	for _, rt := range cache.RefreshTokens.All() {
		if strings.EqualFold(rt.HomeAccountID, acct.HomeAccountID) {
			rf.PutRefreshToken(rt)
		}
	}
	if rf.RefreshTokens.Len() > 0 {
		if ld.RefreshToken, err = rf.Marshal(); err != nil {
			return nil, err
		}
	}

	for _, s := range prof.Subscriptions {
		raw, err := s.MarshalJSON()
		if err != nil {
			return nil, err
		}
		ld.Subscriptions = append(ld.Subscriptions, Subscription{ID: s.ID, Name: s.Name, TenantID: s.TenantID, Raw: raw})
	}
	return ld, nil
}

// WriteProfile implements Files.
func (AZFiles) WriteProfile(dir, cloudName string, raw json.RawMessage) error {
	var sub azconfig.Subscription
	if err := json.Unmarshal(raw, &sub); err != nil {
		return fmt.Errorf("subscription from the vault: %w", err)
	}
	ctx, cancel := fileCtx()
	defer cancel()
	if err := azconfig.WriteSingleSubscription(ctx, dir, sub); err != nil {
		return err
	}
	if cloudName == "" {
		cloudName = azconfig.DefaultCloud
	}
	// az records the active subscription in clouds.config as well
	// (testdata/az245/account-set); keep the two consistent.
	return azconfig.SetCloudSubscription(dir, cloudName, sub.ID)
}

// PutCredentials implements Files.
func (AZFiles) PutCredentials(dir string, account, refreshToken json.RawMessage) error {
	af, err := azconfig.ParseTokenCache(account)
	if err != nil {
		return fmt.Errorf("account from the vault: %w", err)
	}
	rf, err := azconfig.ParseTokenCache(refreshToken)
	if err != nil {
		return fmt.Errorf("refresh token from the vault: %w", err)
	}
	ctx, cancel := fileCtx()
	defer cancel()
	return azconfig.UpdateTokenCache(ctx, dir, func(c *azconfig.TokenCache) error {
		c.AdoptAccounts(af)
		for _, rt := range rf.RefreshTokens.All() {
			c.PutRefreshToken(rt)
		}
		return nil
	})
}

// TakeRefreshToken implements Files.
func (AZFiles) TakeRefreshToken(dir, homeAccountID string) (json.RawMessage, error) {
	var out json.RawMessage
	ctx, cancel := fileCtx()
	defer cancel()
	err := azconfig.UpdateTokenCache(ctx, dir, func(c *azconfig.TokenCache) error {
		rf := &azconfig.TokenCache{}
		for _, rt := range c.RefreshTokens.All() {
			if homeAccountID == "" || strings.EqualFold(rt.HomeAccountID, homeAccountID) {
				rf.PutRefreshToken(rt)
			}
		}
		if rf.RefreshTokens.Len() == 0 {
			return nil
		}
		data, err := rf.Marshal()
		if err != nil {
			return err
		}
		out = data
		c.RemoveRefreshTokens(homeAccountID)
		return nil
	})
	return out, err
}

// OtherLogins implements Files.
func (AZFiles) OtherLogins(dir, homeAccountID string) ([]string, error) {
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, rt := range c.RefreshTokens.All() {
		if strings.EqualFold(rt.HomeAccountID, homeAccountID) || seen[rt.HomeAccountID] {
			continue
		}
		seen[rt.HomeAccountID] = true
		name := rt.HomeAccountID
		if a, ok := c.FindAccount(rt.HomeAccountID, ""); ok && a.Username != "" {
			name = a.Username
		}
		out = append(out, name)
	}
	return out, nil
}

// SetLocation implements Files.
func (AZFiles) SetLocation(dir, location string) error {
	if location == "" {
		return nil
	}
	return azconfig.SetDefaultLocation(dir, location)
}

// LoginDirConfig implements Files.
func (AZFiles) LoginDirConfig(loginDir, targetDir string) error {
	return azconfig.PrepareDir(loginDir, targetDir)
}
