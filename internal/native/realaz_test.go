package native_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azconfig/azconfigtest"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/testbed"
)

var prefetch = []string{"https://vault.azure.net", "https://graph.microsoft.com"}

// nativeLogin signs in natively (no az) into a fresh config dir.
func nativeLogin(t *testing.T, emu *entraemu.Emulator) (string, native.LoginResult) {
	t.Helper()
	dir := testbed.NewConfigDir(t)
	ten := emu.Tenants()[0]
	res, err := native.Login(context.Background(), native.LoginOptions{
		ConfigDir: dir, Tenant: ten.ID, Client: emu.Client(), MaxInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir, res
}

func tokenPosts(emu *entraemu.Emulator) []entraemu.Request {
	var out []entraemu.Request
	for _, r := range emu.Requests() {
		if strings.HasSuffix(r.Path, "/oauth2/v2.0/token") {
			out = append(out, r)
		}
	}
	return out
}

// Native is a drop-in: after a native redemption (the refresh token kept
// out of the dir), the real az serves ARM and every
// prefetched resource from the cache with no token request, az account show
// works, and a native logout leaves az logged out.
func TestRealAZServesNativeTokensFromCache(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{StrictRefresh: true, SubscriptionsPerTenant: 2})
	dir, login := nativeLogin(t, emu)
	ten := emu.Tenants()[0]
	if login.TenantID != ten.ID || login.Username != ten.Users[0].Username || login.Subscriptions != 2 {
		t.Fatalf("login result %+v", login)
	}
	// Warm az's discovery cache once, as any az command in a real config
	// dir has done before (a fresh dir makes az fetch discovery).
	testbed.MustAZ(t, emu, dir, "account", "get-access-token", "--output", "json")

	req := vaultRequest(t, dir, login.HomeAccountID)
	req.TenantID, req.SubscriptionID, req.Resources = ten.ID, ten.Subscriptions[0].ID, prefetch
	eng := &native.Engine{Client: emu.Client()}
	res, err := eng.Redeem(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(res.ExpiresOn); d < 50*time.Minute || d > time.Hour+time.Minute {
		t.Errorf("ExpiresOn in %v", d)
	}

	emu.ResetRequests()
	var got struct {
		AccessToken  string `json:"accessToken"`
		Subscription string `json:"subscription"`
		Tenant       string `json:"tenant"`
	}
	out := testbed.MustAZ(t, emu, dir, "account", "get-access-token", "--subscription", ten.Subscriptions[0].ID, "--output", "json")
	if err := json.Unmarshal([]byte(out.Stdout), &got); err != nil || got.Tenant != ten.ID || got.AccessToken == "" {
		t.Fatalf("get-access-token: %v %+v", err, got)
	}
	if it, ok := emu.Issued(got.AccessToken); !ok || it.Audience == "" {
		t.Errorf("az served a token the emulator did not issue")
	}
	for _, r := range prefetch {
		testbed.MustAZ(t, emu, dir, "account", "get-access-token", "--resource", r, "--output", "json")
	}
	show := testbed.MustAZ(t, emu, dir, "account", "show", "--output", "json")
	if !strings.Contains(show.Stdout, ten.Subscriptions[0].ID) {
		t.Errorf("az account show: %s", show.Stdout)
	}
	if posts := tokenPosts(emu); len(posts) != 0 {
		t.Errorf("az made %d token requests; want 0: %v", len(posts), posts)
	}

	if err := eng.Logout(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	r := testbed.AZ(context.Background(), emu, dir, "account", "get-access-token", "--output", "json")
	if r.OK() || !strings.Contains(r.Stderr, "az login") {
		t.Errorf("after native logout az still answers: %s", r)
	}
	r = testbed.AZ(context.Background(), emu, dir, "account", "show", "--output", "json")
	if r.OK() {
		t.Errorf("after native logout az account show works: %s", r)
	}
}

// The entries native writes are the entries az writes for the same answer:
// same keys, same members in the same order, same target. az redeems in one
// dir, native in another, both signed in as the same user.
func TestNativeEntriesMatchAzEntries(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{StrictRefresh: true})
	ten := emu.Tenants()[0]
	azDir, login := nativeLogin(t, emu)
	natDir, _ := nativeLogin(t, emu)
	for _, dir := range []string{azDir, natDir} {
		if err := azconfig.UpdateTokenCache(context.Background(), dir, func(c *azconfig.TokenCache) error {
			c.RemoveAccessTokens("")
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// az redeems the refresh token for the vault resource...
	testbed.MustAZ(t, emu, azDir, "account", "get-access-token", "--resource", "https://vault.azure.net", "--output", "json")
	// ...and native does the same, keeping the refresh token out of the
	// dir: its entry is compared where it went.
	req := vaultRequest(t, natDir, login.HomeAccountID)
	req.TenantID, req.Resources = ten.ID, []string{"https://vault.azure.net"}
	var kept []byte
	req.Keep = func(b []byte) error { kept = b; return nil }
	if _, err := (&native.Engine{Client: emu.Client()}).Redeem(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	azC := sortedScopes(t, rawCache(t, azDir))
	natC := sortedScopes(t, rawCache(t, natDir))
	if len(natC["RefreshToken"]) != 0 {
		t.Errorf("native wrote %d refresh tokens into the dir", len(natC["RefreshToken"]))
	}
	var frag map[string]map[string]json.RawMessage
	if err := json.Unmarshal(kept, &frag); err != nil {
		t.Fatal(err)
	}
	natC["RefreshToken"] = sortedScopes(t, frag)["RefreshToken"]
	if len(azC["AccessToken"]) != 1 || len(azC["RefreshToken"]) != 1 {
		t.Fatalf("az wrote %d access and %d refresh tokens", len(azC["AccessToken"]), len(azC["RefreshToken"]))
	}
	for _, sec := range []string{"AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"} {
		for key, azEntry := range azC[sec] {
			natEntry, ok := natC[sec][key]
			if !ok {
				t.Errorf("%s %q: az wrote it, native did not (native has %v)", sec, key, keys(natC[sec]))
				continue
			}
			a := slices.DeleteFunc(memberNames(t, azEntry), func(m string) bool { return newerAZMembers[m] })
			if n := memberNames(t, natEntry); !slices.Equal(a, n) {
				t.Errorf("%s %q: az members %v, native %v", sec, key, a, n)
			}
			if a, n := testbed.SortScopes(member(t, azEntry, "target")), testbed.SortScopes(member(t, natEntry, "target")); a != n {
				t.Errorf("%s %q: target az=%q native=%q", sec, key, a, n)
			}
			for _, m := range []string{"realm", "environment", "home_account_id", "client_id", "token_type", "credential_type", "username", "local_account_id"} {
				if a, n := member(t, azEntry, m), member(t, natEntry, m); a != n {
					t.Errorf("%s %q: %s az=%q native=%q", sec, key, m, a, n)
				}
			}
		}
	}
}

// Native logout leaves the files az logout leaves, byte for byte.
func TestNativeLogoutLeavesWhatAzLogoutLeaves(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{})
	azDir, _ := nativeLogin(t, emu)
	natDir, _ := nativeLogin(t, emu)
	testbed.MustAZ(t, emu, azDir, "logout")
	if err := (&native.Engine{}).Logout(context.Background(), natDir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{azconfig.TokenCacheJSON, azconfig.ProfileFile} {
		a, err1 := os.ReadFile(filepath.Join(azDir, name))
		n, err2 := os.ReadFile(filepath.Join(natDir, name))
		if err1 != nil || err2 != nil || string(a) != string(n) {
			t.Errorf("%s: az left %q (%v), native %q (%v)", name, a, err1, n, err2)
		}
	}
}

// vaultRequest turns the login in dir into what the vault keeps and asks
// to redeem it for dir, whose cache then holds the login's other entries
// but no refresh token.
func vaultRequest(t *testing.T, dir, home string) engine.Request {
	t.Helper()
	_, account, rt := azconfigtest.VaultItems(t, dir)
	if err := azconfig.UpdateTokenCache(context.Background(), dir, func(c *azconfig.TokenCache) error {
		c.RemoveRefreshTokens("")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return engine.Request{ConfigDir: dir, Cloud: azure.AzureCloud, HomeAccountID: home, Account: account, RefreshToken: rt,
		Keep: func([]byte) error { return nil }}
}

func rawCache(t *testing.T, dir string) map[string]map[string]json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, azconfig.TokenCacheJSON))
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// newerAZMembers are the entry members az 2.74 (MSAL Python 1.32) writes
// and 2.45 does not; both versions read entries without them, and native
// writes what 2.45 writes.
var newerAZMembers = map[string]bool{"account_source": true, "refresh_on": true}

// sortedScopes rekeys every section of a raw cache with the scopes in its
// keys sorted (see testbed.SortScopes): az 2.74 sorts them, 2.45 and
// native keep the token answer's order.
func sortedScopes(t *testing.T, c map[string]map[string]json.RawMessage) map[string]map[string]json.RawMessage {
	out := map[string]map[string]json.RawMessage{}
	for sec, entries := range c {
		out[sec] = map[string]json.RawMessage{}
		for key, e := range entries {
			out[sec][testbed.SortKeyScopes(key, member(t, e, "target"))] = e
		}
	}
	return out
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// memberNames returns an object's member names in order.
func memberNames(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	var names []string
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
			expectKey = depth == 1 && v == '{'
			continue
		case string:
			if depth == 1 && expectKey {
				names = append(names, v)
				expectKey = false
				continue
			}
		}
		if depth == 1 {
			expectKey = true
		}
	}
	return names
}

func member(t *testing.T, raw json.RawMessage, name string) string {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	s, _ := m[name].(string)
	return s
}

// The demo's path: a client built from the emulator's environment alone
// reaches it (proxy and CA), and Login signs in through it.
func TestLoginWithClientFromEnv(t *testing.T) {
	emu := testbed.Emulator(t, entraemu.Config{})
	client, err := native.ClientFromEnv(emu.Env())
	if err != nil {
		t.Fatal(err)
	}
	dir := testbed.NewConfigDir(t)
	var prompt strings.Builder
	_, err = native.Login(context.Background(), native.LoginOptions{
		ConfigDir: dir, Tenant: emu.Tenants()[0].Domain, Client: client, Prompt: &prompt, MaxInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prompt.String(), "devicelogin") {
		t.Errorf("prompt %q", prompt.String())
	}
	p, err := azconfig.LoadProfile(dir)
	if err != nil || len(p.Subscriptions) == 0 || !p.Subscriptions[0].IsDefault {
		t.Fatalf("profile %+v %v", p, err)
	}
	data, err := (lifecycle.AZFiles{}).ReadLogin(dir)
	if err != nil || data.HomeAccountID == "" || len(data.RefreshToken) == 0 {
		t.Fatalf("ReadLogin: %+v %v", data, err)
	}
}

// Regression: a native login by the tenant's domain wrote the domain as
// the cache's realm and the profile's tenantId, where az resolves the
// domain to the tenant id first; az 2.74 then found no token ("Can't find
// token from MSAL cache"). The real az serves the login's token with no
// token request.
func TestRealAZServesANativeLoginByDomain(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{SubscriptionsPerTenant: 1})
	ten := emu.Tenants()[0]
	dir := testbed.NewConfigDir(t)
	if _, err := native.Login(context.Background(), native.LoginOptions{
		ConfigDir: dir, Tenant: ten.Domain, Client: emu.Client(), MaxInterval: 20 * time.Millisecond,
	}); err != nil {
		t.Fatal(err)
	}
	emu.ResetRequests()
	out := testbed.MustAZ(t, emu, dir, "account", "get-access-token", "--output", "json")
	if !strings.Contains(out.Stdout, ten.ID) {
		t.Errorf("get-access-token: %s", out.Stdout)
	}
	if n := len(tokenPosts(emu)); n != 0 {
		t.Errorf("%d token requests, want the cached token", n)
	}
}
