package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/fileutil"
)

// StagedAZ is the az engine redeeming in a config dir of azkeep's own (its
// staging dir) instead of the target dir, and so a Direct engine:
//
//   - the refresh token never enters the target dir, where the user's own
//     az could read it, race for it (single-use refresh tokens) or copy it
//     into msal_http_cache.bin (MSAL pickles a failed request there,
//     refresh token included);
//   - az keeps MSAL's HTTP cache on in the staging dir, where no other az
//     runs, so it does not fetch the discovery documents again on every
//     call (about 50 ms of the ~0.45 s az takes); after a failed call the
//     runner deletes that cache (see azcli.Call.Private);
//   - the target's token cache is written once, with az's own entries.
//
// The staging dir holds the refresh token only while az runs, and never a
// token cache after RedeemDirect returns. One redemption at a time uses it
// (a lock in the dir).
type StagedAZ struct {
	*AZ
	// Dir is the staging config dir, created 0700 (e.g. $AZKEEP_HOME/az).
	Dir string
}

// PrivateRunner is an AZRunner that can run a token call in a config dir
// only azkeep uses (*azcli.Runner): MSAL's HTTP cache then stays on.
type PrivateRunner interface {
	RunPrivate(ctx context.Context, configDir string, args ...string) ([]byte, error)
}

// NewAZStaged returns the az engine redeeming in dir.
func NewAZStaged(runner AZRunner, dir string) *StagedAZ {
	return &StagedAZ{AZ: NewAZ(runner), Dir: dir}
}

var _ Direct = (*StagedAZ)(nil)

// stagingLock is the lock file, in the staging dir, of a redemption.
const stagingLock = ".azkeep-staging.lock"

// RedeemDirect implements Direct: the seed's steps 2–8 in the staging dir
// (profile, account and refresh token in; `az account get-access-token
// --subscription S`; the refresh token out), then az's access and id
// token entries copied to req.ConfigDir's cache in one write.
func (s *StagedAZ) RedeemDirect(ctx context.Context, req Request, account, refreshToken []byte, keep func([]byte) error) (Result, error) {
	if s.Dir == "" || req.ConfigDir == "" || req.SubscriptionID == "" || len(req.Subscription) == 0 {
		return Result{}, errors.New("az engine: staging dir, config dir and subscription are required")
	}
	af, err := azconfig.ParseTokenCache(account)
	if err != nil {
		return Result{}, fmt.Errorf("account from the vault: %w", err)
	}
	rf, err := azconfig.ParseTokenCache(refreshToken)
	if err != nil {
		return Result{}, fmt.Errorf("refresh token from the vault: %w", err)
	}
	unlock, err := fileutil.Lock(ctx, filepath.Join(s.Dir, stagingLock))
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	// Whatever happens, no token cache stays in the staging dir.
	defer removeTokenCache(s.Dir)
	if err := s.prepare(ctx, req, af, rf); err != nil {
		return Result{}, fmt.Errorf("prepare the staging dir %s: %w", s.Dir, err)
	}

	staged := req
	staged.ConfigDir = s.Dir
	if _, err := s.run(ctx, "account", "get-access-token", "--subscription", req.SubscriptionID, "--output", "json"); err != nil {
		return Result{}, err
	}
	for _, res := range req.Resources {
		if _, err := s.run(ctx, "account", "get-access-token", "--subscription", req.SubscriptionID, "--resource", res, "--output", "json"); err != nil {
			return Result{}, fmt.Errorf("token for %s: %w", res, err)
		}
	}
	c, err := azconfig.LoadTokenCache(s.Dir)
	if err != nil {
		return Result{}, err
	}
	exp, err := armExpiryIn(c, staged)
	if err != nil {
		return Result{}, err
	}
	rt, ok := c.RefreshToken(req.HomeAccountID, "", azure.AzureCLIClientID)
	if !ok {
		return Result{}, fmt.Errorf("az left no refresh token for account %s in the staging dir %s", req.HomeAccountID, s.Dir)
	}
	frag := &azconfig.TokenCache{}
	frag.PutRefreshToken(rt)
	newRT, err := frag.Marshal()
	if err != nil {
		return Result{}, err
	}
	// Step 7 before anything reaches the target.
	keepErr := keep(newRT)
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err = azconfig.UpdateTokenCache(wctx, req.ConfigDir, func(t *azconfig.TokenCache) error {
		t.AdoptAccounts(af)
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
	return Result{ExpiresOn: exp}, nil
}

// prepare makes the staging dir what the target dir is for az (its config
// and clouds, broker off) with the session's subscription alone in the
// profile and a token cache holding only the account and refresh token.
func (s *StagedAZ) prepare(ctx context.Context, req Request, af, rf *azconfig.TokenCache) error {
	for _, name := range []string{azconfig.ConfigFile, "clouds.config"} {
		if err := copyOrRemove(filepath.Join(req.ConfigDir, name), filepath.Join(s.Dir, name)); err != nil {
			return err
		}
	}
	// Without it az checks for a newer version over the network.
	if _, err := os.Stat(filepath.Join(s.Dir, "versionCheck.json")); errors.Is(err, fs.ErrNotExist) {
		if err := copyOrRemove(filepath.Join(req.ConfigDir, "versionCheck.json"), filepath.Join(s.Dir, "versionCheck.json")); err != nil {
			return err
		}
	}
	if err := azconfig.DisableBroker(s.Dir); err != nil {
		return err
	}
	var sub azconfig.Subscription
	if err := json.Unmarshal(req.Subscription, &sub); err != nil {
		return fmt.Errorf("subscription from the vault: %w", err)
	}
	if err := azconfig.WriteSingleSubscription(ctx, s.Dir, sub); err != nil {
		return err
	}
	cloud := req.Cloud.Name
	if cloud == "" {
		cloud = azconfig.DefaultCloud
	}
	if err := azconfig.SetCloudSubscription(s.Dir, cloud, sub.ID); err != nil {
		return err
	}
	return azconfig.UpdateTokenCache(ctx, s.Dir, func(c *azconfig.TokenCache) error {
		c.RemoveAll()
		c.AdoptAccounts(af)
		for _, rt := range rf.RefreshTokens.All() {
			c.PutRefreshToken(rt)
		}
		return nil
	})
}

func (s *StagedAZ) run(ctx context.Context, args ...string) ([]byte, error) {
	if pr, ok := s.runner.(PrivateRunner); ok {
		return pr.RunPrivate(ctx, s.Dir, args...)
	}
	return s.runner.RunIn(ctx, s.Dir, true, args...)
}

// copyOrRemove makes dst a copy of src, or absent when src is.
func copyOrRemove(src, dst string) error {
	data, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(dst); err == nil && string(old) == string(data) {
		return nil
	}
	return fileutil.WriteAtomic(dst, data, fileutil.FilePerm)
}

// removeTokenCache deletes the staging dir's token cache (and its lock
// file), refresh token and all.
func removeTokenCache(dir string) {
	for _, name := range []string{azconfig.TokenCacheJSON, azconfig.TokenCacheBin} {
		os.Remove(filepath.Join(dir, name))
		os.Remove(filepath.Join(dir, name+azconfig.LockSuffix))
	}
}
