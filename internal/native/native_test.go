package native

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azconfig/azconfigtest"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
)

const (
	testUID    = "5c7e1b0a-0000-4000-8000-00000000a11c"
	testTenant = "72f988bf-0000-4000-8000-0000000000aa"
	testHome   = testUID + "." + testTenant
)

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// fakeIDP is a token endpoint that checks each refresh grant the way az
// sends it and rotates refresh tokens strictly (each one works once).
type fakeIDP struct {
	t  *testing.T
	mu sync.Mutex
	// live are the refresh tokens that still work.
	live map[string]bool
	// fail makes the grant for a scope answer with (status, error code).
	fail   map[string][2]any
	grants []url.Values
	n      int
	// before runs (unlocked) at the start of each request.
	before func()
}

func newFakeIDP(t *testing.T) (*fakeIDP, *httptest.Server) {
	f := &fakeIDP{t: t, live: map[string]bool{"rt-0": true}, fail: map[string][2]any{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeIDP) serve(w http.ResponseWriter, r *http.Request) {
	if f.before != nil {
		f.before()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/"+testTenant+"/oauth2/v2.0/token" || r.Method != http.MethodPost {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	f.grants = append(f.grants, r.PostForm)
	// What az 2.45 sends with every refresh grant.
	want := map[string]string{
		"client_id":   azure.AzureCLIClientID,
		"grant_type":  "refresh_token",
		"client_info": "1",
		"claims":      `{"access_token": {"xms_cc": {"values": ["CP1"]}}}`,
	}
	for k, v := range want {
		if got := r.PostForm.Get(k); got != v {
			f.t.Errorf("form %s = %q, want %q", k, got, v)
		}
	}
	if got := r.Header.Get("X-AnchorMailbox"); got != "Oid:"+testUID+"@"+testTenant {
		f.t.Errorf("X-AnchorMailbox = %q", got)
	}
	scope := r.PostForm.Get("scope")
	if !strings.HasSuffix(scope, "/.default offline_access openid profile") {
		f.t.Errorf("scope = %q", scope)
	}
	w.Header().Set("Content-Type", "application/json")
	if x, ok := f.fail[scope]; ok {
		w.WriteHeader(x[0].(int))
		fmt.Fprintf(w, `{"error":%q,"error_description":"AADSTS70000: test"}`, x[1])
		return
	}
	rt := r.PostForm.Get("refresh_token")
	if !f.live[rt] {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"AADSTS70000: used twice"}`)
		return
	}
	delete(f.live, rt)
	f.n++
	next := fmt.Sprintf("rt-%d", f.n)
	f.live[next] = true
	resource := strings.TrimSuffix(strings.Fields(scope)[0], ".default")
	json.NewEncoder(w).Encode(map[string]any{
		"token_type":     "Bearer",
		"scope":          resource + "user_impersonation " + resource + ".default",
		"expires_in":     3599,
		"ext_expires_in": 3599,
		"access_token":   fmt.Sprintf("at-%d", f.n),
		"refresh_token":  next,
		"id_token":       "eyJhbGciOiJub25lIn0." + b64(map[string]any{"aud": azure.AzureCLIClientID, "oid": testUID, "tid": testTenant, "preferred_username": "ada@contoso.example"}) + ".",
		"client_info":    b64(map[string]string{"uid": testUID, "utid": testTenant}),
	})
}

// seedCache writes what az login leaves: the account and the refresh token
// (splitSeed turns it into the vault's items; a target dir seeded with it
// holds a stale login).
func seedCache(t testing.TB, dir, env string) {
	t.Helper()
	err := azconfig.UpdateTokenCache(context.Background(), dir, func(c *azconfig.TokenCache) error {
		c.PutAccount(&azconfig.Account{HomeAccountID: testHome, Environment: env, Realm: testTenant, LocalAccountID: testUID, Username: "ada@contoso.example", AuthorityType: "MSSTS"})
		c.PutRefreshToken(&azconfig.RefreshToken{CredentialType: "RefreshToken", Secret: "rt-0", HomeAccountID: testHome, Environment: env, ClientID: azure.AzureCLIClientID,
			Target: "https://management.core.windows.net//user_impersonation https://management.core.windows.net//.default", LastModificationTime: "1700000000"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// request asks to redeem the vault's items of seedCache's login against
// the endpoint at authority for dir; Keep records the refresh token in
// *kept (kept may be nil).
func request(t testing.TB, dir, authority string, kept *[]byte) engine.Request {
	t.Helper()
	account, rt := splitSeed(t, strings.TrimPrefix(authority, "http://"))
	return engine.Request{
		ConfigDir:      dir,
		Cloud:          azure.Cloud{Name: "AzureCloud", AuthorityHost: authority, ARMResource: "https://management.core.windows.net/"},
		TenantID:       testTenant,
		SubscriptionID: "sub",
		HomeAccountID:  testHome,
		Account:        account,
		RefreshToken:   rt,
		Keep: func(b []byte) error {
			if kept != nil {
				*kept = b
			}
			return nil
		},
	}
}

// keptRefreshToken is the one refresh token entry of a kept fragment.
func keptRefreshToken(t *testing.T, kept []byte) *azconfig.RefreshToken {
	t.Helper()
	c, err := azconfig.ParseTokenCache(kept)
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshTokens.Len() != 1 {
		t.Fatalf("%d refresh tokens kept, want 1", c.RefreshTokens.Len())
	}
	for _, rt := range c.RefreshTokens.All() {
		return rt
	}
	return nil
}

func TestRedeemWritesWhatAzWrites(t *testing.T) {
	idp, srv := newFakeIDP(t)
	dir := t.TempDir()
	env := strings.TrimPrefix(srv.URL, "http://")
	now := time.Unix(1800000000, 0)
	e := &Engine{Client: srv.Client(), Now: func() time.Time { return now }}
	var kept []byte
	req := request(t, dir, srv.URL, &kept)
	req.Resources = []string{"https://vault.azure.net", "https://management.core.windows.net/", "https://graph.microsoft.com"}

	res, err := e.Redeem(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(3599 * time.Second); !res.ExpiresOn.Equal(want) {
		t.Errorf("ExpiresOn = %v, want %v", res.ExpiresOn, want)
	}
	// ARM first with the vault's refresh token, then vault and graph at
	// once with the one ARM's answer returned: the fake is strict
	// (single-use), so one of the two is refused and sent again with the
	// refresh token the winner got. ARM is not repeated.
	if len(idp.grants) != 4 {
		t.Fatalf("%d grants, want 4", len(idp.grants))
	}
	sent := []string{}
	for _, g := range idp.grants {
		sent = append(sent, g.Get("refresh_token"))
	}
	if want := []string{"rt-0", "rt-1", "rt-1", "rt-2"}; !slices.Equal(sent, want) {
		t.Errorf("refresh tokens sent %v, want %v", sent, want)
	}
	if got := idp.grants[0].Get("scope"); got != "https://management.core.windows.net//.default offline_access openid profile" {
		t.Errorf("ARM scope = %q", got)
	}

	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	// ARM's answer is the first; vault's and graph's race (sent at once),
	// so which of them got at-2 and which at-3 is either way.
	extra := map[string]bool{}
	for i, res := range []string{"https://management.core.windows.net//", "https://vault.azure.net/", "https://graph.microsoft.com/"} {
		target := res + "user_impersonation " + res + ".default"
		key := strings.ToLower(testHome + "-" + env + "-accesstoken-" + azure.AzureCLIClientID + "-" + testTenant + "-" + target)
		at, ok := c.AccessTokens.Get(key)
		if !ok {
			t.Fatalf("no access token under %q; have %v", key, c.AccessTokens.Keys())
		}
		if i > 0 {
			extra[at.Secret] = true
		}
		if (i == 0 && at.Secret != "at-1") || at.Target != target || at.Realm != testTenant || at.TokenType != "Bearer" ||
			at.CachedAt != "1800000000" || at.ExpiresOn != "1800003599" || at.ExtendedExpiresOn != "1800003599" || at.ClientID != azure.AzureCLIClientID {
			t.Errorf("access token %d = %+v", i, at)
		}
	}
	if !extra["at-2"] || !extra["at-3"] {
		t.Errorf("vault and graph tokens %v, want at-2 and at-3", extra)
	}
	// The refresh token entry is updated in place, and kept, not written:
	// same key, the last rotated secret.
	if c.RefreshTokens.Len() != 0 {
		t.Fatalf("%d refresh tokens in the cache", c.RefreshTokens.Len())
	}
	_, seeded := splitSeed(t, env)
	rt := keptRefreshToken(t, kept)
	if rt.Secret != "rt-3" || rt.LastModificationTime != "1800000000" || rt.Key() != keptRefreshToken(t, seeded).Key() {
		t.Errorf("refresh token = %s at %s", rt.Secret, rt.LastModificationTime)
	}
	if c.IDTokens.Len() != 1 || c.Accounts.Len() != 1 || c.AppMetadata.Len() != 1 {
		t.Errorf("id tokens %d, accounts %d, app metadata %d", c.IDTokens.Len(), c.Accounts.Len(), c.AppMetadata.Len())
	}
	fi, err := os.Stat(filepath.Join(dir, azconfig.TokenCacheJSON))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file: %v %v", fi.Mode(), err)
	}
}

func TestRedeemRejectedNeedsLoginAndLeavesCache(t *testing.T) {
	for _, code := range []string{"invalid_grant", "interaction_required"} {
		t.Run(code, func(t *testing.T) {
			idp, srv := newFakeIDP(t)
			idp.fail["https://management.core.windows.net//.default offline_access openid profile"] = [2]any{400, code}
			dir := t.TempDir()
			seedCache(t, dir, strings.TrimPrefix(srv.URL, "http://"))
			before, _ := os.ReadFile(filepath.Join(dir, azconfig.TokenCacheJSON))
			_, err := (&Engine{Client: srv.Client()}).Redeem(context.Background(), request(t, dir, srv.URL, nil))
			var nl *azure.NeedsLoginError
			if !errors.As(err, &nl) || nl.Code != code {
				t.Fatalf("err = %v, want NeedsLoginError %s", err, code)
			}
			after, _ := os.ReadFile(filepath.Join(dir, azconfig.TokenCacheJSON))
			if !bytes.Equal(before, after) {
				t.Error("a rejected redemption changed the cache")
			}
			if strings.Contains(err.Error(), "rt-0") {
				t.Error("the error names the refresh token")
			}
		})
	}
}

func TestRedeemServerErrorIsTemporary(t *testing.T) {
	idp, srv := newFakeIDP(t)
	idp.fail["https://management.core.windows.net//.default offline_access openid profile"] = [2]any{503, "temporarily_unavailable"}
	dir := t.TempDir()
	_, err := (&Engine{Client: srv.Client()}).Redeem(context.Background(), request(t, dir, srv.URL, nil))
	var pe *ProtocolError
	if !errors.As(err, &pe) || !pe.Temporary() || azure.IsNeedsLogin(err) {
		t.Fatalf("err = %v, want a temporary ProtocolError", err)
	}
}

// A prefetch that fails after ARM succeeded must not lose the rotated
// refresh token: with single-use refresh tokens the old one is dead.
func TestPrefetchFailureKeepsRotatedRefreshToken(t *testing.T) {
	idp, srv := newFakeIDP(t)
	idp.fail["https://graph.microsoft.com/.default offline_access openid profile"] = [2]any{400, "invalid_scope"}
	var warn bytes.Buffer
	var kept []byte
	req := request(t, t.TempDir(), srv.URL, &kept)
	req.Resources = []string{"https://graph.microsoft.com"}
	if _, err := (&Engine{Client: srv.Client(), Warn: &warn}).Redeem(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if rt := keptRefreshToken(t, kept); rt.Secret != "rt-1" {
		t.Errorf("refresh token %q, want the rotated rt-1", rt.Secret)
	}
	if !strings.Contains(warn.String(), "https://graph.microsoft.com") {
		t.Errorf("warning %q", warn.String())
	}
}

func TestRedeemWithoutRefreshToken(t *testing.T) {
	_, srv := newFakeIDP(t)
	req := request(t, t.TempDir(), srv.URL, nil)
	req.RefreshToken = []byte("{}")
	_, err := (&Engine{Client: srv.Client()}).Redeem(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "no refresh token") {
		t.Fatalf("err = %v", err)
	}
}

func TestLogoutRemovesWhatAzLogoutRemoves(t *testing.T) {
	_, srv := newFakeIDP(t)
	dir := t.TempDir()
	seedCache(t, dir, strings.TrimPrefix(srv.URL, "http://"))
	profile := filepath.Join(dir, azconfig.ProfileFile)
	os.WriteFile(profile, []byte("\ufeff{\"subscriptions\": [{\"id\": \"s\"}], \"installationId\": \"i-1\"}"), 0o600)
	os.WriteFile(filepath.Join(dir, "service_principal_entries.json"), []byte("[]"), 0o600)
	if err := (&Engine{}).Logout(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "service_principal_entries.json")); !errors.Is(err, os.ErrNotExist) {
		t.Error("service_principal_entries.json still exists")
	}
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.AccessTokens.Len() + c.RefreshTokens.Len() + c.IDTokens.Len() + c.Accounts.Len(); n != 0 {
		t.Errorf("%d token entries left", n)
	}
	got, _ := os.ReadFile(profile)
	if string(got) != "\ufeff{\"subscriptions\": [], \"installationId\": \"i-1\"}" {
		t.Errorf("profile = %q", got)
	}
}

func TestBypassProxy(t *testing.T) {
	for _, c := range []struct {
		host, no string
		want     bool
	}{
		{"login.microsoftonline.com", "", false},
		{"login.microsoftonline.com", "*", true},
		{"login.microsoftonline.com", "example.com, .microsoftonline.com", true},
		{"login.microsoftonline.com", "microsoftonline.com:443", true},
		{"evilmicrosoftonline.com", "microsoftonline.com", false},
	} {
		if got := bypassProxy(c.host, c.no); got != c.want {
			t.Errorf("bypassProxy(%q, %q) = %v", c.host, c.no, got)
		}
	}
}

// BenchmarkRedeem is the engine alone: one refresh grant against a local
// endpoint and one cache write (the lifecycle's other file work excluded).
func BenchmarkRedeem(b *testing.B) {
	dir := b.TempDir()
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++ // a new token each time, so that every redemption writes the cache
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"token_type": "Bearer", "scope": "https://management.core.windows.net//user_impersonation https://management.core.windows.net//.default",
			"expires_in": 3599, "access_token": fmt.Sprint("at-", n), "refresh_token": fmt.Sprint("rt-", n),
			"client_info": b64(map[string]string{"uid": testUID, "utid": testTenant}),
		})
	}))
	defer srv.Close()
	e := &Engine{Client: srv.Client()}
	req := request(b, dir, srv.URL, nil)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Redeem(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// splitSeed returns what the vault holds after a login for the seed cache:
// the account fragment and the refresh-token fragment.
func splitSeed(t testing.TB, env string) (account, rt []byte) {
	t.Helper()
	dir := t.TempDir()
	seedCache(t, dir, env)
	_, account, rt = azconfigtest.VaultItems(t, dir)
	return account, rt
}

// TestRedeemKeepsBeforeWriting: keep gets the rotated refresh token
// before the cache is written, and the cache of a dir that held the
// account's stale tokens then holds the new access tokens and no refresh
// token at all.
func TestRedeemKeepsBeforeWriting(t *testing.T) {
	_, srv := newFakeIDP(t)
	env := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	seedCache(t, dir, env)
	req := request(t, dir, srv.URL, nil)
	req.Resources = []string{"https://vault.azure.net", "https://graph.microsoft.com"}
	var kept []byte
	req.Keep = func(b []byte) error {
		kept = b
		if c, _ := azconfig.LoadTokenCache(dir); c.RefreshTokens.Len() != 1 || c.AccessTokens.Len() != 0 {
			t.Error("keep ran after the cache was written")
		}
		return nil
	}
	if _, err := (&Engine{Client: srv.Client()}).Redeem(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if rt := keptRefreshToken(t, kept); rt.Secret != "rt-3" {
		t.Errorf("kept %q, want the last rotated rt-3", rt.Secret)
	}
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessTokens.Len() != 3 || c.Accounts.Len() != 1 || c.RefreshTokens.Len() != 0 {
		t.Errorf("cache: %d access tokens, %d accounts, %d refresh tokens", c.AccessTokens.Len(), c.Accounts.Len(), c.RefreshTokens.Len())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, azconfig.TokenCacheJSON)); bytes.Contains(b, []byte("rt-")) {
		t.Error("a refresh token reached the cache")
	}
}

// TestRedeemKeepFailureLeavesTokenOnDisk: when the vault refuses the
// rotated refresh token, it goes into the cache rather than being lost,
// and the error is the vault's.
func TestRedeemKeepFailureLeavesTokenOnDisk(t *testing.T) {
	_, srv := newFakeIDP(t)
	env := strings.TrimPrefix(srv.URL, "http://")
	dir := t.TempDir()
	locked := errors.New("collection is locked")
	req := request(t, dir, srv.URL, nil)
	req.Keep = func([]byte) error { return locked }
	_, err := (&Engine{Client: srv.Client()}).Redeem(context.Background(), req)
	if !errors.Is(err, locked) {
		t.Fatalf("err = %v, want the vault's", err)
	}
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := c.RefreshToken(testHome, env, azure.AzureCLIClientID); !ok || r.Secret != "rt-1" {
		t.Errorf("refresh token on disk: %v %v, want the rotated rt-1", r, ok)
	}
}

// TestRedeemRejectedWritesNothing: a rejected refresh token is a
// needs-login error, keep is not called and the cache is not touched.
func TestRedeemRejectedWritesNothing(t *testing.T) {
	idp, srv := newFakeIDP(t)
	idp.live = map[string]bool{}
	dir := t.TempDir()
	req := request(t, dir, srv.URL, nil)
	req.Keep = func([]byte) error {
		t.Error("keep called for a rejected token")
		return nil
	}
	_, err := (&Engine{Client: srv.Client()}).Redeem(context.Background(), req)
	if !azure.IsNeedsLogin(err) {
		t.Fatalf("err = %v, want needs-login", err)
	}
	if _, err := os.Stat(filepath.Join(dir, azconfig.TokenCacheJSON)); err == nil {
		t.Error("the cache was written")
	}
}
