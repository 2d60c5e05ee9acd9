// Package native is azkeep's own token engine: the OAuth 2.0 refresh-token
// grant that az 2.45 (MSAL Python) sends, made with one HTTPS request
// instead of a Python process, and the token-cache entries az would write
// for the answer, so that az then serves the token from its cache.
//
// What az sends, and so what Redeem sends (observed through the emulator's
// proxy; docs/testing.md lists what each az command sends): POST <authority>/<tenant>/oauth2/v2.0/token with
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
// Redeem writes the same entries into the config dir, the account from the
// vault, except the refresh token entry, which goes to the vault instead
// (engine.Request.Keep).
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
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
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
	// rotated refresh token must still reach the vault, and az works for
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

// grants sends the refresh grants for ARM and each of req.Resources (for
// req.Resources alone when req.ResourcesOnly) and returns the answers in
// the order they arrived, so that the last one carries the newest refresh
// token. Only the first grant must succeed: a failed prefetch is a
// warning.
//
// The first grant goes alone; the others go at once, each with the
// refresh token the first returned. Entra ID lets a refresh token be
// redeemed more than once, so they all succeed there; where refresh tokens
// are single-use (the emulator's strict mode), one of them wins and the
// others are refused with invalid_grant: those are sent again one after
// the other, each with the refresh token the previous answer returned.
func (e *Engine) grants(ctx context.Context, req engine.Request, secret string) ([]grant, error) {
	endpoint := tokenEndpoint(req.Cloud, req.TenantID)
	anchor := "Oid:" + strings.Replace(req.HomeAccountID, ".", "@", 1)
	var resources []string
	if req.ResourcesOnly {
		resources = dedupe(req.Resources, "")
	} else {
		arm := armResource(req.Cloud)
		resources = append([]string{arm}, dedupe(req.Resources, arm)...)
	}
	if len(resources) == 0 {
		return nil, errors.New("native engine: no resource to redeem for")
	}
	tr, err := e.refresh(ctx, endpoint, secret, resources[0], anchor)
	if err != nil {
		return nil, err
	}
	out := []grant{{resource: resources[0], resp: tr, at: e.now()}}
	if tr.RefreshToken != "" {
		secret = tr.RefreshToken
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	var refused []string
	failed := map[string]error{}
	for _, res := range resources[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := e.refresh(ctx, endpoint, secret, res, anchor)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case azure.IsNeedsLogin(err):
				refused = append(refused, res)
				failed[res] = err
			case err != nil:
				failed[res] = err
			default:
				out = append(out, grant{resource: res, resp: tr, at: e.now()})
			}
		}()
	}
	wg.Wait()
	// The newest refresh token is the last answer's.
	for i := len(out) - 1; i >= 0; i-- {
		if rt := out[i].resp.RefreshToken; rt != "" {
			secret = rt
			break
		}
	}
	slices.SortFunc(refused, strings.Compare)
	for _, res := range refused {
		tr, err := e.refresh(ctx, endpoint, secret, res, anchor)
		if err != nil {
			failed[res] = err
			continue
		}
		delete(failed, res)
		if tr.RefreshToken != "" {
			secret = tr.RefreshToken
		}
		out = append(out, grant{resource: res, resp: tr, at: e.now()})
	}
	// seed, start step 7 comes first: a refresh token rotated by an
	// earlier grant must not be lost because a prefetch failed.
	for _, res := range resources[1:] {
		if err, ok := failed[res]; ok && e.Warn != nil {
			fmt.Fprintf(e.Warn, "azkeep: warning: no access token for %s: %v\n", res, err)
		}
	}
	return out, nil
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

// Redeem implements engine.Engine: a refresh grant for ARM and one for
// each of req.Resources (see grants for the order). The newest refresh token goes to req.Keep first, then one cache
// update writes the entries az would write for the answers (the account,
// its access and id tokens, the app metadata), without the refresh token.
func (e *Engine) Redeem(ctx context.Context, req engine.Request) (engine.Result, error) {
	if req.TenantID == "" || req.HomeAccountID == "" || req.ConfigDir == "" {
		return engine.Result{}, errors.New("native engine: request without tenant, account or config dir")
	}
	env, err := environment(req.Cloud)
	if err != nil {
		return engine.Result{}, err
	}
	af, err := azconfig.ParseTokenCache(req.Account)
	if err != nil {
		return engine.Result{}, fmt.Errorf("account from the vault: %w", err)
	}
	rf, err := azconfig.ParseTokenCache(req.RefreshToken)
	if err != nil {
		return engine.Result{}, fmt.Errorf("refresh token from the vault: %w", err)
	}
	rt, ok := rf.RefreshToken(req.HomeAccountID, env, azure.AzureCLIClientID)
	if !ok {
		return engine.Result{}, fmt.Errorf("the vault's refresh token item holds no refresh token for account %s", req.HomeAccountID)
	}
	grants, err := e.grants(ctx, req, rt.Secret)
	if err != nil {
		return engine.Result{}, err
	}
	// The refresh token entry as az would leave it: updated in place by
	// each answer that rotated it (AddRefreshAnswer on the fragment, which
	// also checks every answer before anything is kept).
	var expires time.Time
	for i, g := range grants {
		ents, err := rf.AddRefreshAnswer(rt.Key(), g.event(req, env))
		if err != nil {
			return engine.Result{}, err
		}
		if i == 0 && !req.ResourcesOnly && ents.AccessToken != nil {
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
	keepErr := req.Keep(frag)
	err = updateCache(req.ConfigDir, func(c *azconfig.TokenCache) error {
		if req.Replace {
			c.RemoveAll()
		}
		req.AdoptAccounts(c, af)
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
	if req.Replace {
		if err := engine.RemoveServicePrincipals(req.ConfigDir); err != nil {
			return engine.Result{}, err
		}
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
// does, without az (engine.LogoutFiles).
func (e *Engine) Logout(ctx context.Context, configDir string) error {
	return engine.LogoutFiles(ctx, configDir)
}
