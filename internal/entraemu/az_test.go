package entraemu_test

// End-to-end tests with the real Azure CLI 2.45: every kind of login, token
// redemption, rejected and rotated refresh tokens, faults and the 5-minute
// rule against the emulator, which never dials out. One emulator serves the whole file (tests run one after another
// and use distinct users); each test has its own AZURE_CONFIG_DIR.

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

var shared *entraemu.Emulator

func TestMain(m *testing.M) {
	var err error
	shared, err = entraemu.Start(entraemu.Config{
		Tenants:                2,
		SubscriptionsPerTenant: 2,
		UsersPerTenant:         3,
		TokenLifetime:          10 * time.Minute, // > az's 5-minute rule
	})
	if err != nil {
		panic(err)
	}
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// noCache turns off MSAL's HTTP cache, which replays a failed answer for 60 s.
var noCache = []string{"AZURE_CORE_USE_MSAL_HTTP_CACHE=false"}

func azRun(t *testing.T, dir string, args ...string) testbed.Result {
	t.Helper()
	return testbed.AZWithEnv(context.Background(), shared, dir, noCache, args...)
}

func mustAZ(t *testing.T, dir string, args ...string) testbed.Result {
	t.Helper()
	r := azRun(t, dir, args...)
	if !r.OK() {
		t.Fatalf("az %s: %s", strings.Join(args, " "), r)
	}
	return r
}

func subscriptionIDs(subs []entraemu.Subscription) map[string]bool {
	m := map[string]bool{}
	for _, s := range subs {
		m[s.ID] = true
	}
	return m
}

func assertTenantSubscriptions(t *testing.T, accounts []testbed.Account, ten entraemu.Tenant, userName, userType string) {
	t.Helper()
	want := subscriptionIDs(ten.Subscriptions)
	if len(accounts) != len(want) {
		t.Fatalf("az lists %d subscriptions, want the %d of tenant %s: %+v", len(accounts), len(want), ten.ID, accounts)
	}
	for _, a := range accounts {
		if !want[a.ID] || a.TenantID != ten.ID {
			t.Errorf("subscription %s (tenant %s) is not one of tenant %s", a.ID, a.TenantID, ten.ID)
		}
		if a.User.Name != userName || a.User.Type != userType {
			t.Errorf("subscription %s user = %+v, want %s (%s)", a.ID, a.User, userName, userType)
		}
	}
}

func TestAZDeviceCodeLoginAndTokens(t *testing.T) {
	testbed.RequireAZ(t)
	ten := shared.Tenants()[0]
	user := ten.Users[0]
	dir := testbed.NewConfigDir(t)
	shared.ResetRequests()

	r := mustAZ(t, dir, "login", "--use-device-code", "--tenant", ten.ID, "--output", "json")
	assertTenantSubscriptions(t, testbed.ParseAccounts(t, r), ten, user.Username, "user")
	if !strings.Contains(r.Stderr, "devicelogin") {
		t.Errorf("az did not print the device code message: %q", r.Stderr)
	}
	if n := shared.CountGrants(entraemu.GrantDeviceCode); n != 1 {
		t.Errorf("device code grants = %d, want 1", n)
	}
	if n := shared.CountGrants(entraemu.GrantRefreshToken); n != 0 {
		t.Errorf("refresh grants during login = %d, want 0 (the answer echoes the scope as Entra does)", n)
	}
	assertCacheShape(t, dir, user, ten)

	t.Run("account list", func(t *testing.T) {
		r := mustAZ(t, dir, "account", "list", "--output", "json")
		assertTenantSubscriptions(t, testbed.ParseAccounts(t, r), ten, user.Username, "user")
	})

	t.Run("account set and show", func(t *testing.T) {
		sub := ten.Subscriptions[1]
		mustAZ(t, dir, "account", "set", "--subscription", sub.ID)
		r := mustAZ(t, dir, "account", "show", "--output", "json")
		if !strings.Contains(r.Stdout, sub.ID) || !strings.Contains(r.Stdout, sub.Name) {
			t.Errorf("account show after set: %s", r.Stdout)
		}
		cc, _ := os.ReadFile(filepath.Join(dir, "clouds.config"))
		if !strings.Contains(string(cc), "subscription = "+sub.ID) {
			t.Errorf("clouds.config does not record the active subscription:\n%s", cc)
		}
	})

	t.Run("get-access-token for a subscription", func(t *testing.T) {
		sub := ten.Subscriptions[0]
		shared.ResetRequests()
		at := testbed.ParseAccessToken(t, mustAZ(t, dir, "account", "get-access-token", "--subscription", sub.ID, "--output", "json"))
		it, ok := shared.Issued(at.AccessToken)
		if !ok {
			t.Fatal("az returned an access token the emulator did not issue")
		}
		if it.ObjectID != user.ObjectID || it.TenantID != ten.ID {
			t.Errorf("token oid/tid = %s/%s, want %s/%s", it.ObjectID, it.TenantID, user.ObjectID, ten.ID)
		}
		c, err := entraemu.ParseClaims(at.AccessToken)
		if err != nil || c.String("oid") != user.ObjectID || c.String("tid") != ten.ID {
			t.Errorf("claims %v (%v)", c, err)
		}
		if at.Subscription != sub.ID || at.Tenant != ten.ID {
			t.Errorf("get-access-token answered %s/%s", at.Subscription, at.Tenant)
		}
		if n := len(shared.TokenRequests("")); n != 0 {
			t.Errorf("a cached token made %d token requests, want 0", n)
		}
	})

	t.Run("get-access-token for Key Vault", func(t *testing.T) {
		shared.ResetRequests()
		at := testbed.ParseAccessToken(t, mustAZ(t, dir, "account", "get-access-token", "--resource", "https://vault.azure.net", "--output", "json"))
		it, ok := shared.Issued(at.AccessToken)
		if !ok || it.Audience != "https://vault.azure.net" {
			t.Errorf("vault token issued=%v audience=%q", ok, it.Audience)
		}
		reqs := shared.TokenRequests(entraemu.GrantRefreshToken)
		if len(reqs) != 1 || !strings.HasPrefix(reqs[0].Scope, "https://vault.azure.net/.default") {
			t.Errorf("want one refresh grant for vault, got %v", reqs)
		}
	})

	t.Run("no AccessToken: exactly one refresh grant", func(t *testing.T) {
		testbed.DeleteCacheSections(t, dir, "AccessToken")
		shared.ResetRequests()
		mustAZ(t, dir, "account", "get-access-token", "--output", "json")
		if n := shared.CountGrants(entraemu.GrantRefreshToken); n != 1 {
			t.Errorf("refresh grants = %d, want 1: %v", n, shared.Requests())
		}
		if n := len(shared.TokenRequests("")); n != 1 {
			t.Errorf("token requests = %d, want 1", n)
		}
	})

	t.Run("no AccessToken nor RefreshToken: az login error", func(t *testing.T) {
		testbed.DeleteCacheSections(t, dir, "AccessToken", "RefreshToken")
		shared.ResetRequests()
		r := azRun(t, dir, "account", "get-access-token", "--output", "json")
		if r.Code == 0 || r.Err != nil {
			t.Fatalf("want a non-zero exit: %s", r)
		}
		if !strings.Contains(r.Stderr, "az login") {
			t.Errorf("stderr does not ask for az login: %q", r.Stderr)
		}
		if n := len(shared.TokenRequests("")); n != 0 {
			t.Errorf("token requests = %d, want 0", n)
		}
	})

	t.Run("logout", func(t *testing.T) {
		mustAZ(t, dir, "login", "--use-device-code", "--tenant", ten.ID, "--output", "none")
		mustAZ(t, dir, "logout")
		c := testbed.ReadTokenCache(t, dir)
		for _, s := range []string{"Account", "AccessToken", "RefreshToken", "IdToken"} {
			if len(c[s]) != 0 {
				t.Errorf("after logout the cache still holds %d %s entries", len(c[s]), s)
			}
		}
		if f := testbed.ScanSecrets(dir); len(testbed.RefreshTokens(f)) != 0 || len(testbed.OfKind(f, testbed.KindAccessToken)) != 0 {
			t.Errorf("tokens left on disk after logout: %v", f)
		}
		r := mustAZ(t, dir, "account", "list", "--output", "json")
		if len(testbed.ParseAccounts(t, r)) != 0 {
			t.Errorf("account list after logout: %s", r.Stdout)
		}
	})
}

// assertCacheShape checks the cache entries az built from the emulator's
// answer (keys from client_info, target = the scope Entra echoes).
func assertCacheShape(t *testing.T, dir string, user entraemu.User, ten entraemu.Tenant) {
	t.Helper()
	c := testbed.ReadTokenCache(t, dir)
	home := user.ObjectID + "." + ten.ID
	target := "https://management.core.windows.net//user_impersonation https://management.core.windows.net//.default"
	atKey := home + "-login.microsoftonline.com-accesstoken-04b07795-8ddb-461a-bbee-02f9e1bf7b46-" + ten.ID + "-" + target
	// az 2.74 sorts the scopes in the key (testbed.SortScopes).
	_, ok := c["AccessToken"][atKey]
	if _, sorted := c["AccessToken"][testbed.SortKeyScopes(atKey, target)]; !ok && !sorted {
		t.Errorf("no access token under %q (in either scope order); have %v", atKey, keys(c["AccessToken"]))
	}
	if _, ok := c["Account"][home+"-login.microsoftonline.com-"+ten.ID]; !ok {
		t.Errorf("no account for %s; have %v", home, keys(c["Account"]))
	}
	if len(c["RefreshToken"]) != 1 || len(c["IdToken"]) != 1 {
		t.Errorf("refresh tokens %d, id tokens %d, want 1 each", len(c["RefreshToken"]), len(c["IdToken"]))
	}
	for _, rt := range c["RefreshToken"] {
		if s, _ := rt["secret"].(string); !entraemu.IsRefreshToken(s) {
			t.Error("the cached refresh token is not the emulator's")
		}
		if rt["family_id"] != "1" {
			t.Errorf("refresh token family_id = %v, want 1 (foci)", rt["family_id"])
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestAZPasswordLogin(t *testing.T) {
	testbed.RequireAZ(t)
	ten := shared.Tenants()[1]
	user := ten.Users[1]
	dir := testbed.NewConfigDir(t)
	shared.ResetRequests()
	r := mustAZ(t, dir, "login", "-u", user.Username, "-p", user.Password, "--tenant", ten.ID, "--output", "json")
	assertTenantSubscriptions(t, testbed.ParseAccounts(t, r), ten, user.Username, "user")
	if n := shared.CountGrants(entraemu.GrantPassword); n != 1 {
		t.Errorf("password grants = %d, want 1", n)
	}
	var realm bool
	for _, q := range shared.Requests() {
		if strings.HasPrefix(q.Path, "/common/userrealm/") {
			realm = true
		}
	}
	if !realm {
		t.Error("az made no user realm lookup")
	}

	bad := azRun(t, testbed.NewConfigDir(t), "login", "-u", user.Username, "-p", "wrong", "--tenant", ten.ID)
	if bad.Code == 0 || !strings.Contains(bad.Stderr, "AADSTS50126") {
		t.Errorf("a wrong password: %s", bad)
	}
}

func TestAZServicePrincipalLogin(t *testing.T) {
	testbed.RequireAZ(t)
	ten := shared.Tenants()[1]
	sp := ten.ServicePrincipals[0]
	dir := testbed.NewConfigDir(t)
	shared.ResetRequests()
	r := mustAZ(t, dir, "login", "--service-principal", "-u", sp.AppID, "-p", sp.Secret, "--tenant", ten.ID, "--output", "json")
	assertTenantSubscriptions(t, testbed.ParseAccounts(t, r), ten, sp.AppID, "servicePrincipal")
	if n := shared.CountGrants(entraemu.GrantClientCredentials); n != 1 {
		t.Errorf("client credentials grants = %d, want 1", n)
	}
	at := testbed.ParseAccessToken(t, mustAZ(t, dir, "account", "get-access-token", "--output", "json"))
	if it, ok := shared.Issued(at.AccessToken); !ok || it.ObjectID != sp.ObjectID || it.TenantID != ten.ID {
		t.Errorf("service principal token: issued=%v %+v", ok, it)
	}
}

func TestAZRevokedRefreshToken(t *testing.T) {
	testbed.RequireAZ(t)
	ten := shared.Tenants()[0]
	user := ten.Users[1]
	dir := testbed.NewConfigDir(t)
	mustAZ(t, dir, "login", "-u", user.Username, "-p", user.Password, "--tenant", ten.ID, "--output", "none")
	if err := shared.RevokeUser(user.Username); err != nil {
		t.Fatal(err)
	}
	testbed.DeleteCacheSections(t, dir, "AccessToken")
	shared.ResetRequests()
	r := azRun(t, dir, "account", "get-access-token", "--output", "json")
	if r.Code == 0 {
		t.Fatalf("a revoked refresh token still works: %s", r)
	}
	if !strings.Contains(r.Stderr, "AADSTS50173") || !strings.Contains(r.Stderr, "revoked") {
		t.Errorf("az does not show the emulator's invalid_grant description: %q", r.Stderr)
	}
	reqs := shared.TokenRequests(entraemu.GrantRefreshToken)
	if len(reqs) != 1 || reqs[0].Error != "invalid_grant" {
		t.Errorf("want one refused refresh grant, got %v", reqs)
	}
	// A new login issues tokens that work again.
	mustAZ(t, dir, "login", "-u", user.Username, "-p", user.Password, "--tenant", ten.ID, "--output", "none")
	testbed.DeleteCacheSections(t, dir, "AccessToken")
	mustAZ(t, dir, "account", "get-access-token", "--output", "none")
}

func TestAZInteractionRequired(t *testing.T) {
	testbed.RequireAZ(t)
	ten := shared.Tenants()[0]
	user := ten.Users[2]
	dir := testbed.NewConfigDir(t)
	mustAZ(t, dir, "login", "-u", user.Username, "-p", user.Password, "--tenant", ten.ID, "--output", "none")
	if err := shared.RequireInteraction(user.Username, true); err != nil {
		t.Fatal(err)
	}
	defer shared.RequireInteraction(user.Username, false)
	testbed.DeleteCacheSections(t, dir, "AccessToken")
	r := azRun(t, dir, "account", "get-access-token", "--output", "json")
	if r.Code == 0 || !strings.Contains(r.Stderr, "AADSTS50076") {
		t.Errorf("want interaction_required (AADSTS50076): %s", r)
	}
}

func TestAZStrictRefreshRotation(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{StrictRefresh: true, TokenLifetime: 10 * time.Minute})
	ten := emu.Tenants()[0]
	dir := testbed.NewConfigDir(t)
	run := func(args ...string) testbed.Result {
		return testbed.AZWithEnv(context.Background(), emu, dir, noCache, args...)
	}
	if r := run("login", "--use-device-code", "--tenant", ten.ID, "--output", "none"); !r.OK() {
		t.Fatal(r)
	}
	rtOf := func() string {
		for _, e := range testbed.ReadTokenCache(t, dir)["RefreshToken"] {
			s, _ := e["secret"].(string)
			return s
		}
		return ""
	}
	first := rtOf()
	for i := 0; i < 2; i++ { // az stores the rotated token each time
		testbed.DeleteCacheSections(t, dir, "AccessToken")
		if r := run("account", "get-access-token", "--output", "none"); !r.OK() {
			t.Fatalf("redemption %d: %s", i+1, r)
		}
	}
	if rtOf() == first {
		t.Fatal("the refresh token did not rotate")
	}
	// Put the first (redeemed) token back: strict mode rejects it.
	c := testbed.ReadTokenCache(t, dir)
	for k := range c["RefreshToken"] {
		c["RefreshToken"][k]["secret"] = first
	}
	testbed.WriteTokenCache(t, dir, c)
	testbed.DeleteCacheSections(t, dir, "AccessToken")
	r := run("account", "get-access-token", "--output", "none")
	if r.Code == 0 || !strings.Contains(r.Stderr, "already redeemed") {
		t.Errorf("a redeemed refresh token: %s", r)
	}
}

// TestAZNoConnectionOut: az asked to reach a host the emulator does not
// serve gets a refusal, and over every az run of this file the emulator
// dialled loopback only.
func TestAZNoConnectionOut(t *testing.T) {
	testbed.RequireAZ(t)
	dir := testbed.NewConfigDir(t)
	r := azRun(t, dir, "rest", "--method", "get", "--url", "https://example.com/anything")
	if r.Code == 0 || !strings.Contains(r.Stderr, "403") {
		t.Errorf("az reached example.com: %s", r)
	}
	var refused bool
	for _, q := range shared.Refused() {
		if q.Host == "example.com:443" {
			refused = true
		}
	}
	if !refused {
		t.Errorf("no refusal of example.com logged: %v", shared.Refused())
	}
	for _, a := range shared.Dials() {
		host, _, _ := net.SplitHostPort(a)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			t.Errorf("the emulator dialled %s", a)
		}
	}
}

// A guest (a user of tenant 1 invited into tenant 0): logging in to one
// tenant lists that tenant's subscriptions only; without --tenant az asks
// /tenants and redeems the refresh token once per tenant.
func TestAZGuestUser(t *testing.T) {
	testbed.RequireAZ(t)
	tens := shared.Tenants()
	home, guestIn := tens[1], tens[0]
	user := home.Users[2]
	if err := shared.AddGuest(user.Username, guestIn.ID); err != nil {
		t.Fatal(err)
	}
	dir := testbed.NewConfigDir(t)
	r := mustAZ(t, dir, "login", "-u", user.Username, "-p", user.Password, "--tenant", guestIn.ID, "--output", "json")
	accts := testbed.ParseAccounts(t, r)
	assertTenantSubscriptions(t, accts, guestIn, user.Username, "user")

	dir = testbed.NewConfigDir(t)
	shared.ResetRequests()
	r = mustAZ(t, dir, "login", "-u", user.Username, "-p", user.Password, "--output", "json")
	t.Logf("login without --tenant: %v", r.Took)
	if n := len(testbed.ParseAccounts(t, r)); n != len(home.Subscriptions)+len(guestIn.Subscriptions) {
		t.Errorf("login without --tenant lists %d subscriptions, want both tenants': %s", n, r.Stdout)
	}
	if n := shared.CountGrants(entraemu.GrantRefreshToken); n != 2 {
		t.Errorf("refresh grants = %d, want one per tenant", n)
	}
	// MSAL takes the Account's realm from the token endpoint's path
	// (organizations here) and adds no Account on a silent refresh: one
	// Account, one (family) refresh token, access tokens for both tenants.
	c := testbed.ReadTokenCache(t, dir)
	realms := map[any]bool{}
	for _, at := range c["AccessToken"] {
		realms[at["realm"]] = true
	}
	if len(c["Account"]) != 1 || len(c["RefreshToken"]) != 1 || !realms[home.ID] || !realms[guestIn.ID] {
		t.Errorf("accounts %v, refresh tokens %d, access token realms %v", keys(c["Account"]), len(c["RefreshToken"]), realms)
	}
	for _, a := range c["Account"] {
		if a["realm"] != "organizations" || a["home_account_id"] != user.ObjectID+"."+home.ID {
			t.Errorf("account %v", a)
		}
	}
}

// The 5-minute rule: az treats an access token with less than 5 minutes
// left as expired. 6-minute tokens are served from the cache; 4-minute
// tokens make every get-access-token redeem the refresh token.
func TestAZFiveMinuteRule(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{TokenLifetime: 6 * time.Minute})
	ten := emu.Tenants()[0]
	u := ten.Users[0]
	for _, tc := range []struct {
		lifetime time.Duration
		grants   int
	}{{6 * time.Minute, 0}, {4 * time.Minute, 2}} {
		emu.SetTokenLifetime(tc.lifetime)
		dir := testbed.NewConfigDir(t)
		if r := testbed.AZ(context.Background(), emu, dir, "login", "-u", u.Username, "-p", u.Password, "--tenant", ten.ID, "--output", "none"); !r.OK() {
			t.Fatal(r)
		}
		emu.ResetRequests()
		for i := 0; i < 2; i++ {
			if r := testbed.AZ(context.Background(), emu, dir, "account", "get-access-token", "--output", "none"); !r.OK() {
				t.Fatal(r)
			}
		}
		if n := emu.CountGrants(entraemu.GrantRefreshToken); n != tc.grants {
			t.Errorf("lifetime %v: %d refresh grants for two get-access-token, want %d", tc.lifetime, n, tc.grants)
		}
	}
}

// The browser login (az login without --use-device-code): authorization
// code with PKCE, the redirect to az's loopback listener, nonce checked by
// MSAL. testbed.BrowserEnv stands in for the user's browser.
func TestAZBrowserLogin(t *testing.T) {
	testbed.RequireAZ(t)
	ten := shared.Tenants()[1]
	dir := testbed.NewConfigDir(t)
	shared.ResetRequests()
	r := testbed.AZWithEnv(context.Background(), shared, dir, append(testbed.BrowserEnv(t), noCache...), "login", "--tenant", ten.ID, "--output", "json")
	if !r.OK() {
		t.Fatal(r)
	}
	assertTenantSubscriptions(t, testbed.ParseAccounts(t, r), ten, ten.Users[0].Username, "user")
	if n := shared.CountGrants(entraemu.GrantAuthorizationCode); n != 1 {
		t.Errorf("authorization code grants = %d, want 1", n)
	}
}

// A 5xx from the token endpoint: az fails (exit 1) after the requests the
// log shows, and works again once the fault is gone.
func TestAZTokenEndpointFault(t *testing.T) {
	testbed.RequireAZ(t)
	ten := shared.Tenants()[1]
	user := ten.Users[0]
	dir := testbed.NewConfigDir(t)
	mustAZ(t, dir, "login", "-u", user.Username, "-p", user.Password, "--tenant", ten.ID, "--output", "none")
	testbed.DeleteCacheSections(t, dir, "AccessToken")
	shared.ResetRequests()
	shared.AddFault(entraemu.Fault{GrantType: entraemu.GrantRefreshToken, Status: 503})
	r := azRun(t, dir, "account", "get-access-token", "--output", "none")
	shared.ClearFaults()
	if r.Code == 0 {
		t.Fatalf("az succeeded through a 503: %s", r)
	}
	t.Logf("az on a 503 (%d refresh requests): %s", shared.CountGrants(entraemu.GrantRefreshToken), strings.TrimSpace(r.Stderr))
	mustAZ(t, dir, "account", "get-access-token", "--output", "none")
}
