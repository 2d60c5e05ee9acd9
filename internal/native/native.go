// Package native is azkeep's own token engine: the OAuth 2.0 refresh-token
// grant that az 2.45 (MSAL Python) sends, made with one HTTPS request
// instead of a Python process, and the token-cache entries az would write
// for the answer, so that az then serves the token from its cache.
//
// What az sends, and so what Redeem sends (DESIGN.md, observed through a
// proxy): POST <authority>/<tenant>/oauth2/v2.0/token with
// client_id=04b07795-… (the Azure CLI), grant_type=refresh_token,
// client_info=1, scope="<resource>/.default offline_access openid profile",
// the CAE claims value asking for capability CP1, and the header
// X-AnchorMailbox: Oid:<uid>@<utid>. Requests go through HTTPS_PROXY when
// the environment sets it (the http.Client's default transport).
//
// What az writes for the answer, and so what Redeem writes (MSAL Python
// 1.21 TokenCache.add after a silent refresh): an AccessToken entry whose
// target is the answer's scope (the requested scopes when the answer has
// none), realm the tenant, times as epoch-second strings; an IdToken entry;
// the AppMetadata entry; and the refresh token entry updated in place
// (secret and last_modification_time; its key keeps its old target). The
// Account entry is left alone (MSAL skips account creation on refresh).
//
// The package also logs in natively by device code (Login), for the demo on
// machines without az.
package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/hint"
)

// Engine is the native engine. The zero value works: it uses
// http.DefaultClient (HTTPS_PROXY honoured) and the wall clock.
type Engine struct {
	// Client sends the requests; tests pass the emulator's client.
	Client *http.Client
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Warn receives one line per resource whose prefetch failed while ARM
	// succeeded (nil: discarded). Such failures do not fail Redeem: the
	// rotated refresh token must still reach the cache, and az works for
	// ARM.
	Warn io.Writer
}

var _ engine.Engine = (*Engine)(nil)

// New returns a native engine that sends its requests with client
// (http.DefaultClient when nil).
func New(client *http.Client) *Engine { return &Engine{Client: client} }

// Name is "native".
func (e *Engine) Name() string { return "native" }

func (e *Engine) client() *http.Client {
	if e.Client != nil {
		return e.Client
	}
	return http.DefaultClient
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// armResource is the cloud's ARM resource (the token az gets for
// `az account get-access-token` and every ARM command).
func armResource(c azure.Cloud) string {
	if c.ARMResource != "" {
		return c.ARMResource
	}
	return azure.AzureCloud.ARMResource
}

// grant is one successful token answer and when it was received.
type grant struct {
	resource string
	resp     *azconfig.TokenResponse
	at       time.Time
}

// Redeem redeems the refresh token in req.ConfigDir's cache for an ARM
// access token and one for each of req.Resources, each with its own
// refresh grant, and writes the entries az would write. A refresh token
// rotated by one answer is the one the next grant sends (single-use
// refresh tokens), and the last one is written back to the cache entry.
func (e *Engine) Redeem(ctx context.Context, req engine.Request) (engine.Result, error) {
	if req.TenantID == "" || req.HomeAccountID == "" || req.ConfigDir == "" {
		return engine.Result{}, errors.New("native engine: request without tenant, account or config dir")
	}
	env, err := environment(req.Cloud)
	if err != nil {
		return engine.Result{}, err
	}
	cache, err := loadCache(req.ConfigDir)
	if err != nil {
		return engine.Result{}, err
	}
	rt, ok := cache.RefreshToken(req.HomeAccountID, env, azure.AzureCLIClientID)
	if !ok {
		return engine.Result{}, hint.New(
			fmt.Errorf("the token cache in %s holds no refresh token for account %s", req.ConfigDir, req.HomeAccountID),
			"start the session again with azkeep session start")
	}
	// A concurrent az may have redeemed the same refresh token between
	// our read and our request (it rewrites the entry with the rotated
	// one): the first grant is retried once with what the cache holds
	// then, as MSAL re-reads its cache, before the integration is lost.
	reread := func() (string, bool) {
		now, err := loadCache(req.ConfigDir)
		if err != nil {
			return "", false
		}
		cur, ok := now.RefreshToken(req.HomeAccountID, env, azure.AzureCLIClientID)
		if !ok {
			return "", false
		}
		return cur.Secret, true
	}
	grants, _, err := e.grants(ctx, req, rt.Secret, reread)
	if err != nil {
		return engine.Result{}, err
	}

	var expires time.Time
	err = updateCache(req.ConfigDir, func(c *azconfig.TokenCache) error {
		// The entry may have moved since loadCache (a concurrent az);
		// find it again, by account, not by the key read earlier.
		cur, ok := c.RefreshToken(req.HomeAccountID, env, azure.AzureCLIClientID)
		if !ok {
			cur = rt
			c.RefreshTokens.Put(rt.Key(), rt)
		}
		for i, g := range grants {
			ents, err := c.AddRefreshAnswer(cur.Key(), g.event(req, env))
			if err != nil {
				return err
			}
			if i == 0 && ents.AccessToken != nil {
				expires, err = ents.AccessToken.ExpiresAt()
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return engine.Result{}, err
	}
	return engine.Result{ExpiresOn: expires}, nil
}

// grants sends the refresh grants for ARM and each of req.Resources, the
// refresh token rotated by one answer being the one the next sends
// (single-use refresh tokens), and returns the answers and the last refresh
// token. Only the ARM grant must succeed: a failed prefetch is a warning.
// reread (may be nil) offers a newer refresh token when the first grant is
// rejected.
func (e *Engine) grants(ctx context.Context, req engine.Request, secret string, reread func() (string, bool)) ([]grant, string, error) {
	endpoint := tokenEndpoint(req.Cloud, req.TenantID)
	anchor := "Oid:" + strings.Replace(req.HomeAccountID, ".", "@", 1)
	arm := armResource(req.Cloud)
	resources := append([]string{arm}, dedupe(req.Resources, arm)...)
	var out []grant
	for i, res := range resources {
		tr, err := e.refresh(ctx, endpoint, secret, res, anchor)
		if err != nil && i == 0 && reread != nil && azure.IsNeedsLogin(err) {
			if cur, ok := reread(); ok && cur != secret {
				secret = cur
				tr, err = e.refresh(ctx, endpoint, secret, res, anchor)
			}
		}
		if err != nil {
			if i == 0 {
				return nil, "", err
			}
			// seed, start step 7 comes first: a refresh token rotated by
			// an earlier grant must not be lost because a prefetch failed.
			if e.Warn != nil {
				fmt.Fprintf(e.Warn, "azkeep: warning: no access token for %s: %v\n", res, err)
			}
			continue
		}
		if tr.RefreshToken != "" {
			secret = tr.RefreshToken
		}
		out = append(out, grant{resource: res, resp: tr, at: e.now()})
	}
	return out, secret, nil
}

// event is the cache event of one grant, as AddRefreshAnswer takes it.
func (g grant) event(req engine.Request, env string) azconfig.TokenEvent {
	return azconfig.TokenEvent{
		ClientID:    azure.AzureCLIClientID,
		Environment: env,
		Realm:       req.TenantID,
		Scopes:      strings.Fields(requestScope(g.resource)),
		Response:    *g.resp,
		Now:         g.at,
	}
}

var _ engine.Direct = (*Engine)(nil)

// RedeemDirect implements engine.Direct: the grants of Redeem, sent with
// the refresh token handed over; the newest refresh token goes to keep
// first, then one cache update writes what Redeem and the lifecycle's
// steps 3 and 8 leave together (the account, its access and id tokens,
// the app metadata; no refresh token).
func (e *Engine) RedeemDirect(ctx context.Context, req engine.Request, account, refreshToken []byte, keep func([]byte) error) (engine.Result, error) {
	if req.TenantID == "" || req.HomeAccountID == "" || req.ConfigDir == "" {
		return engine.Result{}, errors.New("native engine: request without tenant, account or config dir")
	}
	env, err := environment(req.Cloud)
	if err != nil {
		return engine.Result{}, err
	}
	af, err := azconfig.ParseTokenCache(account)
	if err != nil {
		return engine.Result{}, fmt.Errorf("account from the vault: %w", err)
	}
	rf, err := azconfig.ParseTokenCache(refreshToken)
	if err != nil {
		return engine.Result{}, fmt.Errorf("refresh token from the vault: %w", err)
	}
	rt, ok := rf.RefreshToken(req.HomeAccountID, env, azure.AzureCLIClientID)
	if !ok {
		return engine.Result{}, fmt.Errorf("the vault's refresh token item holds no refresh token for account %s", req.HomeAccountID)
	}
	grants, _, err := e.grants(ctx, req, rt.Secret, nil)
	if err != nil {
		return engine.Result{}, err
	}
	// The refresh token entry as the file path would leave it: updated in
	// place by each answer that rotated it (AddRefreshAnswer on the
	// fragment, which also checks every answer before anything is kept).
	var expires time.Time
	for i, g := range grants {
		ents, err := rf.AddRefreshAnswer(rt.Key(), g.event(req, env))
		if err != nil {
			return engine.Result{}, err
		}
		if i == 0 && ents.AccessToken != nil {
			if expires, err = ents.AccessToken.ExpiresAt(); err != nil {
				return engine.Result{}, err
			}
		}
	}
	rt, _ = rf.RefreshTokens.Get(rt.Key())
	newRT := &azconfig.TokenCache{}
	newRT.PutRefreshToken(rt)
	frag, err := newRT.Marshal()
	if err != nil {
		return engine.Result{}, err
	}
	keepErr := keep(frag)
	err = updateCache(req.ConfigDir, func(c *azconfig.TokenCache) error {
		c.AdoptAccounts(af)
		c.RemoveRefreshTokens(req.HomeAccountID)
		for _, g := range grants {
			ev := g.event(req, env)
			ev.Response.RefreshToken = ""
			ev.SkipAccount = true
			if _, err := c.Add(ev); err != nil {
				return err
			}
		}
		if keepErr != nil {
			c.PutRefreshToken(rt)
		}
		return nil
	})
	if err != nil {
		if keepErr != nil {
			return engine.Result{}, errors.Join(keepErr, err)
		}
		return engine.Result{}, err
	}
	if keepErr != nil {
		return engine.Result{}, keepErr
	}
	return engine.Result{ExpiresOn: expires}, nil
}

// refresh sends one refresh-token grant for resource.
func (e *Engine) refresh(ctx context.Context, endpoint, refreshToken, resource, anchor string) (*azconfig.TokenResponse, error) {
	form := url.Values{
		"client_id":     {azure.AzureCLIClientID},
		"grant_type":    {"refresh_token"},
		"client_info":   {"1"},
		"refresh_token": {refreshToken},
		"scope":         {requestScope(resource)},
		"claims":        {caeClaims},
	}
	tr, status, err := postForm(ctx, e.client(), endpoint, form, anchor)
	if err != nil {
		return nil, err
	}
	if tr.Error != "" {
		return nil, errorOf(tr, status)
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("token endpoint %s answered without an access token", redactURL(endpoint))
	}
	return tr, nil
}

// dedupe drops empty entries, repeats and the ARM resource itself.
func dedupe(resources []string, arm string) []string {
	seen := map[string]bool{arm: true}
	var out []string
	for _, r := range resources {
		r = strings.TrimSpace(r)
		if r == "" || seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	return out
}

// Logout removes every account and token from configDir as `az logout`
// does, without az: MSAL's remove_account for each account (refresh,
// access and id tokens and the account entries; the sections stay, empty,
// and AppMetadata stays), then the profile's subscriptions are emptied
// (installationId stays), and service_principal_entries.json is deleted
// (logout_all_service_principal). Observed with az 2.45: the token cache
// file remains with its emptied sections.
func (e *Engine) Logout(ctx context.Context, configDir string) error {
	if err := updateCache(configDir, func(c *azconfig.TokenCache) error {
		c.RemoveAll()
		return nil
	}); err != nil {
		return err
	}
	if err := removeServicePrincipals(configDir); err != nil {
		return err
	}
	return clearProfile(ctx, configDir)
}
