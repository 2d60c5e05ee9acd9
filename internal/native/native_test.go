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

// seedCache writes what the lifecycle writes before Redeem (start step 3):
// the account and the refresh token.
func seedCache(t *testing.T, dir, env string) {
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

func request(dir, authority string) engine.Request {
	return engine.Request{
		ConfigDir:      dir,
		Cloud:          azure.Cloud{Name: "AzureCloud", AuthorityHost: authority, ARMResource: "https://management.core.windows.net/"},
		TenantID:       testTenant,
		SubscriptionID: "sub",
		HomeAccountID:  testHome,
	}
}

func TestRedeemWritesWhatAzWrites(t *testing.T) {
	idp, srv := newFakeIDP(t)
	dir := t.TempDir()
	env := strings.TrimPrefix(srv.URL, "http://")
	seedCache(t, dir, env)
	now := time.Unix(1800000000, 0)
	e := &Engine{Client: srv.Client(), Now: func() time.Time { return now }}
	req := request(dir, srv.URL)
	req.Resources = []string{"https://vault.azure.net", "https://management.core.windows.net/", "https://graph.microsoft.com"}

	res, err := e.Redeem(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(3599 * time.Second); !res.ExpiresOn.Equal(want) {
		t.Errorf("ExpiresOn = %v, want %v", res.ExpiresOn, want)
	}
	// One grant per resource (ARM not repeated), each with the refresh
	// token the previous answer returned.
	if len(idp.grants) != 3 {
		t.Fatalf("%d grants, want 3", len(idp.grants))
	}
	for i, g := range idp.grants {
		if got, want := g.Get("refresh_token"), fmt.Sprintf("rt-%d", i); got != want {
			t.Errorf("grant %d sent %q, want %q", i, got, want)
		}
	}
	if got := idp.grants[0].Get("scope"); got != "https://management.core.windows.net//.default offline_access openid profile" {
		t.Errorf("ARM scope = %q", got)
	}

	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, res := range []string{"https://management.core.windows.net//", "https://vault.azure.net/", "https://graph.microsoft.com/"} {
		target := res + "user_impersonation " + res + ".default"
		key := strings.ToLower(testHome + "-" + env + "-accesstoken-" + azure.AzureCLIClientID + "-" + testTenant + "-" + target)
		at, ok := c.AccessTokens.Get(key)
		if !ok {
			t.Fatalf("no access token under %q; have %v", key, c.AccessTokens.Keys())
		}
		if at.Secret != fmt.Sprintf("at-%d", i+1) || at.Target != target || at.Realm != testTenant || at.TokenType != "Bearer" ||
			at.CachedAt != "1800000000" || at.ExpiresOn != "1800003599" || at.ExtendedExpiresOn != "1800003599" || at.ClientID != azure.AzureCLIClientID {
			t.Errorf("access token %d = %+v", i, at)
		}
	}
	// The refresh token entry is updated in place: same key, the last
	// rotated secret.
	if c.RefreshTokens.Len() != 1 {
		t.Fatalf("%d refresh tokens", c.RefreshTokens.Len())
	}
	rt, _ := c.RefreshToken(testHome, env, azure.AzureCLIClientID)
	if rt.Secret != "rt-3" || rt.LastModificationTime != "1800000000" {
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
			_, err := (&Engine{Client: srv.Client()}).Redeem(context.Background(), request(dir, srv.URL))
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
	seedCache(t, dir, strings.TrimPrefix(srv.URL, "http://"))
	_, err := (&Engine{Client: srv.Client()}).Redeem(context.Background(), request(dir, srv.URL))
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
	dir := t.TempDir()
	env := strings.TrimPrefix(srv.URL, "http://")
	seedCache(t, dir, env)
	var warn bytes.Buffer
	req := request(dir, srv.URL)
	req.Resources = []string{"https://graph.microsoft.com"}
	if _, err := (&Engine{Client: srv.Client(), Warn: &warn}).Redeem(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	c, _ := azconfig.LoadTokenCache(dir)
	rt, _ := c.RefreshToken(testHome, env, azure.AzureCLIClientID)
	if rt.Secret != "rt-1" {
		t.Errorf("refresh token %q, want the rotated rt-1", rt.Secret)
	}
	if !strings.Contains(warn.String(), "https://graph.microsoft.com") {
		t.Errorf("warning %q", warn.String())
	}
}

func TestRedeemWithoutRefreshToken(t *testing.T) {
	_, srv := newFakeIDP(t)
	_, err := (&Engine{Client: srv.Client()}).Redeem(context.Background(), request(t.TempDir(), srv.URL))
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
	env := strings.TrimPrefix(srv.URL, "http://")
	if err := azconfig.UpdateTokenCache(context.Background(), dir, func(c *azconfig.TokenCache) error {
		c.PutRefreshToken(&azconfig.RefreshToken{CredentialType: "RefreshToken", Secret: "rt", HomeAccountID: testHome, Environment: env, ClientID: azure.AzureCLIClientID, Target: "x", LastModificationTime: "1"})
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	e := &Engine{Client: srv.Client()}
	req := request(dir, srv.URL)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Redeem(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// A concurrent az redeemed the refresh token between Redeem's read of the
// cache and its request (and wrote the rotated one back): Redeem retries
// once with the cache's new token instead of marking the integration lost.
func TestRedeemRetriesAfterAConcurrentAzRotation(t *testing.T) {
	idp, srv := newFakeIDP(t)
	dir := t.TempDir()
	env := strings.TrimPrefix(srv.URL, "http://")
	seedCache(t, dir, env)
	once := sync.Once{}
	idp.before = func() {
		once.Do(func() {
			// "az" redeems rt-0 and writes rt-az into the cache.
			idp.mu.Lock()
			delete(idp.live, "rt-0")
			idp.live["rt-az"] = true
			idp.mu.Unlock()
			err := azconfig.UpdateTokenCache(context.Background(), dir, func(c *azconfig.TokenCache) error {
				rt, _ := c.RefreshToken(testHome, env, azure.AzureCLIClientID)
				rt.Secret = "rt-az"
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := (&Engine{Client: srv.Client()}).Redeem(context.Background(), request(dir, srv.URL)); err != nil {
		t.Fatalf("Redeem: %v", err)
	}
	if got := idp.grants[len(idp.grants)-1].Get("refresh_token"); got != "rt-az" {
		t.Errorf("retried with %q, want the cache's rt-az", got)
	}
	c, _ := azconfig.LoadTokenCache(dir)
	if rt, _ := c.RefreshToken(testHome, env, azure.AzureCLIClientID); rt.Secret != "rt-1" {
		t.Errorf("cache refresh token %q, want the rotated rt-1", rt.Secret)
	}
}

// splitSeed returns what the vault holds after a login for the seed cache:
// the account fragment and the refresh-token fragment.
func splitSeed(t *testing.T, env string) (account, rt []byte) {
	t.Helper()
	dir := t.TempDir()
	seedCache(t, dir, env)
	_, account, rt = azconfigtest.VaultItems(t, dir)
	return account, rt
}

// TestRedeemDirectMatchesRedeemThenTake: RedeemDirect leaves byte for byte
// the cache that the file path leaves (account and refresh token written,
// Redeem, refresh token taken out), and hands keep the same refresh-token
// fragment the file path moves to the vault, without ever writing a
// refresh token.
func TestRedeemDirectMatchesRedeemThenTake(t *testing.T) {
	idp, srv := newFakeIDP(t)
	env := strings.TrimPrefix(srv.URL, "http://")
	now := time.Unix(1800000000, 0)
	e := &Engine{Client: srv.Client(), Now: func() time.Time { return now }}
	reset := func() {
		idp.mu.Lock()
		idp.live, idp.n, idp.grants = map[string]bool{"rt-0": true}, 0, nil
		idp.mu.Unlock()
	}
	resources := []string{"https://vault.azure.net", "https://graph.microsoft.com"}

	// The file path.
	fileDir := t.TempDir()
	seedCache(t, fileDir, env)
	req := request(fileDir, srv.URL)
	req.Resources = resources
	want, err := e.Redeem(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var taken []byte
	err = azconfig.UpdateTokenCache(context.Background(), fileDir, func(c *azconfig.TokenCache) error {
		rf := &azconfig.TokenCache{}
		for _, r := range c.RefreshTokens.All() {
			rf.PutRefreshToken(r)
		}
		c.RemoveRefreshTokens(testHome)
		taken, err = rf.Marshal()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// The direct path, in a dir that held the account's stale tokens.
	reset()
	account, rt := splitSeed(t, env)
	dir := t.TempDir()
	seedCache(t, dir, env)
	var kept []byte
	req.ConfigDir = dir
	got, err := e.RedeemDirect(context.Background(), req, account, rt, func(b []byte) error {
		kept = b
		if c, _ := azconfig.LoadTokenCache(dir); c.RefreshTokens.Len() != 1 || c.AccessTokens.Len() != 0 {
			t.Error("keep ran after the cache was written")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExpiresOn.Equal(want.ExpiresOn) {
		t.Errorf("ExpiresOn %v, want %v", got.ExpiresOn, want.ExpiresOn)
	}
	if !bytes.Equal(kept, taken) {
		t.Errorf("kept refresh token\n%s\nwant\n%s", kept, taken)
	}
	a, _ := os.ReadFile(filepath.Join(fileDir, azconfig.TokenCacheJSON))
	b, _ := os.ReadFile(filepath.Join(dir, azconfig.TokenCacheJSON))
	if !bytes.Equal(a, b) {
		t.Errorf("direct cache\n%s\nfile-path cache\n%s", b, a)
	}
	if bytes.Contains(b, []byte("rt-")) {
		t.Error("a refresh token reached the cache")
	}
}

// TestRedeemDirectKeepFailureLeavesTokenOnDisk: when the vault refuses
// the rotated refresh token, it goes into the cache rather than being lost,
// and the error is the vault's.
func TestRedeemDirectKeepFailureLeavesTokenOnDisk(t *testing.T) {
	_, srv := newFakeIDP(t)
	env := strings.TrimPrefix(srv.URL, "http://")
	account, rt := splitSeed(t, env)
	dir := t.TempDir()
	locked := errors.New("collection is locked")
	_, err := (&Engine{Client: srv.Client()}).RedeemDirect(context.Background(), request(dir, srv.URL), account, rt, func([]byte) error { return locked })
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

// TestRedeemDirectRejectedWritesNothing: a rejected refresh token is a
// needs-login error, keep is not called and the cache is not touched.
func TestRedeemDirectRejectedWritesNothing(t *testing.T) {
	idp, srv := newFakeIDP(t)
	env := strings.TrimPrefix(srv.URL, "http://")
	account, rt := splitSeed(t, env)
	idp.live = map[string]bool{}
	dir := t.TempDir()
	_, err := (&Engine{Client: srv.Client()}).RedeemDirect(context.Background(), request(dir, srv.URL), account, rt, func([]byte) error {
		t.Error("keep called for a rejected token")
		return nil
	})
	if !azure.IsNeedsLogin(err) {
		t.Fatalf("err = %v, want needs-login", err)
	}
	if _, err := os.Stat(filepath.Join(dir, azconfig.TokenCacheJSON)); err == nil {
		t.Error("the cache was written")
	}
}
