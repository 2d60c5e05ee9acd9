package entraemu

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const cliClient = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

func start(t *testing.T, cfg Config) *Emulator {
	t.Helper()
	e, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

type answer struct {
	status int
	body   map[string]any
}

func (a answer) str(k string) string { s, _ := a.body[k].(string); return s }

func post(t *testing.T, e *Emulator, tenant string, form url.Values) answer {
	t.Helper()
	resp, err := e.Client().PostForm("https://login.microsoftonline.com/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, body}
}

const armScope = "https://management.core.windows.net//.default offline_access openid profile"

func passwordLogin(t *testing.T, e *Emulator, u User, tenant string) answer {
	t.Helper()
	a := post(t, e, tenant, url.Values{"grant_type": {"password"}, "client_id": {cliClient}, "username": {u.Username}, "password": {u.Password}, "scope": {armScope}, "client_info": {"1"}})
	if a.status != 200 {
		t.Fatalf("password grant: %d %v", a.status, a.body)
	}
	return a
}

func refresh(t *testing.T, e *Emulator, tenant, rt, scope string) answer {
	t.Helper()
	return post(t, e, tenant, url.Values{"grant_type": {"refresh_token"}, "client_id": {cliClient}, "refresh_token": {rt}, "scope": {scope}, "client_info": {"1"}})
}

func TestTokenAnswerAsEntraWordsIt(t *testing.T) {
	e := start(t, Config{TokenLifetime: 7 * time.Minute})
	ten := e.Tenants()[0]
	u := ten.Users[0]
	a := passwordLogin(t, e, u, ten.ID)
	if got, want := a.str("scope"), "https://management.core.windows.net//user_impersonation https://management.core.windows.net//.default"; got != want {
		t.Errorf("scope = %q, want %q", got, want)
	}
	if a.body["expires_in"] != float64(420) || a.body["ext_expires_in"] != float64(420) || a.str("foci") != "1" || a.str("token_type") != "Bearer" {
		t.Errorf("answer %v", a.body)
	}
	if !IsRefreshToken(a.str("refresh_token")) {
		t.Error("refresh token has not the emulator's shape")
	}
	id, err := ParseClaims(a.str("id_token"))
	if err != nil || id.String("aud") != cliClient || id.String("tid") != ten.ID || id.String("preferred_username") != u.Username || id.String("oid") != u.ObjectID {
		t.Errorf("id token claims %v (%v)", id, err)
	}
	at, _ := ParseClaims(a.str("access_token"))
	if at.String("aud") != "https://management.core.windows.net/" || at.String("tid") != ten.ID || at.String("oid") != u.ObjectID || at.String("upn") != u.Username {
		t.Errorf("access token claims %v", at)
	}
	if d := at.Time("exp").Sub(at.Time("iat")); d != 7*time.Minute {
		t.Errorf("access token lifetime %v", d)
	}
	var ci map[string]string
	raw, _ := b64dec(a.str("client_info"))
	if json.Unmarshal(raw, &ci) != nil || ci["uid"] != u.ObjectID || ci["utid"] != ten.ID {
		t.Errorf("client_info %s", raw)
	}
	if it, ok := e.Issued(a.str("access_token")); !ok || it.ObjectID != u.ObjectID {
		t.Error("Issued does not know the token")
	}
}

func TestRefreshTokensRotate(t *testing.T) {
	e := start(t, Config{})
	ten := e.Tenants()[0]
	rt0 := passwordLogin(t, e, ten.Users[0], ten.ID).str("refresh_token")
	a := refresh(t, e, ten.ID, rt0, "https://vault.azure.net/.default offline_access openid profile")
	if a.status != 200 {
		t.Fatal(a.body)
	}
	rt1 := a.str("refresh_token")
	if rt1 == "" || rt1 == rt0 {
		t.Fatal("the refresh token did not rotate")
	}
	if got := a.str("scope"); got != "https://vault.azure.net/user_impersonation https://vault.azure.net/.default" {
		t.Errorf("vault scope %q", got)
	}
	// Real Entra keeps a redeemed refresh token valid: so does the default mode.
	if b := refresh(t, e, ten.ID, rt0, armScope); b.status != 200 {
		t.Errorf("non-strict mode rejected a redeemed token: %v", b.body)
	}
	e.SetStrictRefresh(true)
	b := refresh(t, e, ten.ID, rt0, armScope)
	if b.status != 400 || b.str("error") != "invalid_grant" || !strings.Contains(b.str("error_description"), "already redeemed") {
		t.Errorf("strict mode accepted a redeemed token: %v", b.body)
	}
	if c := refresh(t, e, ten.ID, rt1, armScope); c.status != 200 {
		t.Errorf("strict mode rejected a fresh token: %v", c.body)
	}
	if n := e.CountGrants(GrantRefreshToken); n != 4 {
		t.Errorf("refresh grants logged = %d, want 4", n)
	}
	for _, r := range e.Requests() {
		if strings.Contains(fmt.Sprintf("%+v", r), RefreshTokenPrefix) {
			t.Fatal("the request log holds a refresh token")
		}
	}
}

func TestRevokedAndInteractionRequired(t *testing.T) {
	e := start(t, Config{})
	ten := e.Tenants()[0]
	u := ten.Users[0]
	rt := passwordLogin(t, e, u, ten.ID).str("refresh_token")
	if err := e.RevokeUser(u.Username); err != nil {
		t.Fatal(err)
	}
	a := refresh(t, e, ten.ID, rt, armScope)
	desc := a.str("error_description")
	if a.status != 400 || a.str("error") != "invalid_grant" || !strings.HasPrefix(desc, "AADSTS50173: The provided grant has expired due to it being revoked") || !strings.Contains(desc, "Trace ID:") {
		t.Errorf("revoked: %v", a.body)
	}
	if codes, _ := a.body["error_codes"].([]any); len(codes) != 1 || codes[0] != float64(50173) {
		t.Errorf("error_codes %v", a.body["error_codes"])
	}
	rt2 := passwordLogin(t, e, u, ten.ID).str("refresh_token")
	if b := refresh(t, e, ten.ID, rt2, armScope); b.status != 200 {
		t.Errorf("a token issued after the revocation: %v", b.body)
	}
	_ = e.RequireInteraction(u.Username, true)
	b := refresh(t, e, ten.ID, rt2, armScope)
	if b.str("error") != "interaction_required" || !strings.HasPrefix(b.str("error_description"), "AADSTS50076:") {
		t.Errorf("interaction: %v", b.body)
	}
}

func TestRefreshTokenExpiry(t *testing.T) {
	e := start(t, Config{})
	ten := e.Tenants()[0]
	rt := passwordLogin(t, e, ten.Users[0], ten.ID).str("refresh_token")
	e.SetRefreshTokenLifetime(time.Nanosecond)
	a := refresh(t, e, ten.ID, rt, armScope)
	if a.str("error") != "invalid_grant" || !strings.HasPrefix(a.str("error_description"), "AADSTS700082: The refresh token has expired due to inactivity") {
		t.Errorf("expired: %v", a.body)
	}
	e.SetRefreshTokenLifetime(0)
	if a := refresh(t, e, ten.ID, rt, armScope); a.status != 200 {
		t.Errorf("no expiry: %v", a.body)
	}
}

func TestDeviceCodePolls(t *testing.T) {
	e := start(t, Config{DevicePolls: 2, Tenants: 2})
	ten := e.Tenants()[1]
	resp, err := e.Client().PostForm("https://login.microsoftonline.com/"+ten.Domain+"/oauth2/v2.0/devicecode", url.Values{"client_id": {cliClient}, "scope": {armScope}})
	if err != nil {
		t.Fatal(err)
	}
	var flow map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&flow)
	resp.Body.Close()
	code, _ := flow["device_code"].(string)
	if code == "" || flow["interval"] != float64(1) || !strings.Contains(flow["message"].(string), flow["user_code"].(string)) {
		t.Fatalf("device code answer %v", flow)
	}
	form := url.Values{"grant_type": {GrantDeviceCode}, "client_id": {cliClient}, "device_code": {code}}
	for i := 0; i < 2; i++ {
		if a := post(t, e, ten.ID, form); a.str("error") != "authorization_pending" {
			t.Fatalf("poll %d: %v", i, a.body)
		}
	}
	a := post(t, e, ten.ID, form)
	if a.status != 200 || a.str("refresh_token") == "" || a.str("id_token") == "" {
		t.Fatalf("approval: %v", a.body)
	}
	at, _ := ParseClaims(a.str("access_token"))
	if at.String("upn") != ten.Users[0].Username {
		t.Errorf("device code approved as %q, want the tenant's first user", at.String("upn"))
	}
	if again := post(t, e, ten.ID, form); again.str("error") != "invalid_grant" {
		t.Errorf("a redeemed device code: %v", again.body)
	}
}

func TestARMListsTheCallersTenant(t *testing.T) {
	e := start(t, Config{Tenants: 2, SubscriptionsPerTenant: 3})
	ten := e.Tenants()[1]
	at := passwordLogin(t, e, ten.Users[0], ten.ID).str("access_token")
	get := func(path, token string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", "https://management.azure.com"+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := e.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if st, _ := get("/subscriptions?api-version=2019-11-01", ""); st != 401 {
		t.Errorf("no token: %d", st)
	}
	st, body := get("/subscriptions?api-version=2019-11-01", at)
	if vals, _ := body["value"].([]any); st != 200 || len(vals) != 3 {
		t.Fatalf("subscriptions: %d %v", st, body)
	}
	sub := ten.Subscriptions[0]
	_ = e.RenameSubscription(sub.ID, "renamed")
	_ = e.RemoveSubscription(ten.Subscriptions[1].ID)
	added, _ := e.AddSubscription(ten.ID, "added")
	_ = e.DisableSubscription(added.ID)
	_, body = get("/subscriptions?api-version=2019-11-01", at)
	names := map[string]string{}
	for _, v := range body["value"].([]any) {
		m := v.(map[string]any)
		names[m["displayName"].(string)] = m["state"].(string)
	}
	if len(names) != 3 || names["renamed"] != "Enabled" || names["added"] != "Disabled" {
		t.Errorf("after changes: %v", names)
	}
	if st, body := get("/subscriptions/"+sub.ID+"?api-version=2022-12-01", at); st != 200 || body["displayName"] != "renamed" {
		t.Errorf("one subscription: %d %v", st, body)
	}
	if st, _ := get("/subscriptions/"+e.Tenants()[0].Subscriptions[0].ID, at); st != 404 {
		t.Errorf("another tenant's subscription: %d", st)
	}
	if st, body := get("/tenants?api-version=2022-12-01", at); st != 200 || len(body["value"].([]any)) != 1 {
		t.Errorf("tenants: %d %v", st, body)
	}
	if st, body := get("/subscriptions/"+sub.ID+"/resourcegroups?api-version=2021-04-01", at); st != 200 || len(body["value"].([]any)) != 0 {
		t.Errorf("resource groups: %d %v", st, body)
	}
	if st, body := get("/subscriptions/"+sub.ID+"/locations?api-version=2019-11-01", at); st != 200 || len(body["value"].([]any)) != 3 {
		t.Errorf("locations: %d %v", st, body)
	}
}

func TestGraphMe(t *testing.T) {
	e := start(t, Config{})
	ten := e.Tenants()[0]
	rt := passwordLogin(t, e, ten.Users[0], ten.ID).str("refresh_token")
	a := refresh(t, e, ten.ID, rt, "https://graph.microsoft.com//.default offline_access openid profile")
	for _, tc := range []struct {
		token string
		want  int
	}{{a.str("access_token"), 200}, {passwordLogin(t, e, ten.Users[0], ten.ID).str("access_token"), 401}} {
		req, _ := http.NewRequest("GET", "https://graph.microsoft.com/v1.0/me", nil)
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := e.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var me map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&me)
		resp.Body.Close()
		if resp.StatusCode != tc.want || (tc.want == 200 && me["userPrincipalName"] != ten.Users[0].Username) {
			t.Errorf("GET /me: %d %v, want %d", resp.StatusCode, me, tc.want)
		}
	}
}

func TestFaults(t *testing.T) {
	e := start(t, Config{})
	ten := e.Tenants()[0]
	e.FailNext(1, 503)
	a := post(t, e, ten.ID, url.Values{"grant_type": {"password"}, "client_id": {cliClient}})
	if a.status != 503 {
		t.Errorf("fault: %d", a.status)
	}
	e.AddFault(Fault{GrantType: GrantRefreshToken, Status: 500, Count: 1})
	rt := passwordLogin(t, e, ten.Users[0], ten.ID).str("refresh_token")
	if a := refresh(t, e, ten.ID, rt, armScope); a.status != 500 {
		t.Errorf("refresh fault: %d", a.status)
	}
	if a := refresh(t, e, ten.ID, rt, armScope); a.status != 200 {
		t.Errorf("after the fault: %d", a.status)
	}
}

// The emulator never opens a connection to anything but loopback: refused
// hosts are answered 403 without a dial; loopback targets are tunnelled.
func TestNeverDialsOut(t *testing.T) {
	e := start(t, Config{})
	proxy := e.Addr()

	connect := func(target string) string {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	for _, target := range []string{"example.com:443", "10.1.2.3:443", "[2001:db8::1]:443", "login.microsoftonline.com:80", "azure.microsoft.com:443", "169.254.169.254:80"} {
		if got := connect(target); !strings.Contains(got, "403") {
			t.Errorf("CONNECT %s: %q, want 403", target, got)
		}
	}
	// Plain-HTTP proxy requests for non-loopback hosts are refused too.
	c, _ := net.Dial("tcp", proxy)
	fmt.Fprintf(c, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.Contains(line, "403") {
		t.Errorf("plain GET example.com: %q", line)
	}
	if d := e.Dials(); len(d) != 0 {
		t.Fatalf("dialled %v for refused hosts", d)
	}
	if n := len(e.Refused()); n != 7 {
		t.Errorf("refusals logged = %d, want 7", n)
	}

	// Loopback: plain HTTP and HTTPS (CONNECT) reach a local test server.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "local") }))
	defer srv.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "local-tls") }))
	defer tls.Close()
	cl := e.Client()
	for _, u := range []string{srv.URL, tls.URL} {
		if u == tls.URL {
			cl.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(tls.Certificate())
		}
		resp, err := cl.Get(u)
		if err != nil {
			t.Fatalf("GET %s through the proxy: %v", u, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(b), "local") {
			t.Errorf("GET %s: %q", u, b)
		}
	}
	for _, a := range e.Dials() {
		host, _, _ := net.SplitHostPort(a)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			t.Errorf("dialled %s", a)
		}
	}
	if len(e.Dials()) != 2 {
		t.Errorf("dials %v, want the two loopback servers", e.Dials())
	}
}

func TestDialLoopbackRefusesNames(t *testing.T) {
	for _, a := range []string{"example.com:80", "10.0.0.1:80", "[::ffff:8.8.8.8]:53", "0.0.0.0:80"} {
		if c, err := dialLoopback(t.Context(), "tcp", a); err == nil {
			c.Close()
			t.Errorf("dialLoopback(%s) succeeded", a)
		}
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	if _, err := Start(Config{Addr: "0.0.0.0:0"}); err == nil {
		t.Error("listened on 0.0.0.0")
	}
}

func b64dec(s string) ([]byte, error) {
	return b64decode(s)
}

func TestGuestUser(t *testing.T) {
	e := start(t, Config{Tenants: 2})
	home, other := e.Tenants()[0], e.Tenants()[1]
	u := home.Users[0]
	form := url.Values{"grant_type": {"password"}, "client_id": {cliClient}, "username": {u.Username}, "password": {u.Password}, "scope": {armScope}}
	if a := post(t, e, other.ID, form); a.str("error") != "invalid_grant" || !strings.HasPrefix(a.str("error_description"), "AADSTS50020:") {
		t.Errorf("a non-member: %v", a.body)
	}
	if err := e.AddGuest(u.Username, other.ID); err != nil {
		t.Fatal(err)
	}
	a := passwordLogin(t, e, u, other.ID)
	at, _ := ParseClaims(a.str("access_token"))
	id, _ := ParseClaims(a.str("id_token"))
	raw, _ := b64dec(a.str("client_info"))
	if at.String("tid") != other.ID || id.String("tid") != other.ID || !strings.Contains(string(raw), home.ID) {
		t.Errorf("guest token tid %s / id %s / client_info %s", at.String("tid"), id.String("tid"), raw)
	}
	// The home tenant's refresh token redeems in the guest tenant (FOCI/MRRT).
	rt := passwordLogin(t, e, u, home.ID).str("refresh_token")
	if b := refresh(t, e, other.ID, rt, armScope); b.status != 200 {
		t.Errorf("refresh in the guest tenant: %v", b.body)
	}
	req, _ := http.NewRequest("GET", "https://management.azure.com/tenants?api-version=2019-11-01", nil)
	req.Header.Set("Authorization", "Bearer "+a.str("access_token"))
	resp, err := e.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Value []map[string]any }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if len(body.Value) != 2 {
		t.Errorf("tenants of a guest: %v", body.Value)
	}
}

func TestAuthorizeCodeWithPKCE(t *testing.T) {
	e := start(t, Config{})
	ten := e.Tenants()[0]
	cl := e.Client()
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	verifier := "a-verifier-of-enough-length-0123456789-abcdefghijkl"
	sum := sha256.Sum256([]byte(verifier))
	authz := func(redirect string) *http.Response {
		q := url.Values{"client_id": {cliClient}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {armScope},
			"state": {"st"}, "nonce": {"n0"}, "code_challenge": {b64(sum[:])}, "code_challenge_method": {"S256"}}
		resp, err := cl.Get("https://login.microsoftonline.com/" + ten.ID + "/oauth2/v2.0/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := authz("https://evil.example/cb"); resp.StatusCode != 400 {
		t.Errorf("a non-loopback redirect: %d", resp.StatusCode)
	}
	resp := authz("http://localhost:1234/")
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || err != nil || loc.Host != "localhost:1234" || loc.Query().Get("state") != "st" {
		t.Fatalf("redirect %d %v", resp.StatusCode, loc)
	}
	code := loc.Query().Get("code")
	form := url.Values{"grant_type": {GrantAuthorizationCode}, "client_id": {cliClient}, "code": {code}, "redirect_uri": {"http://localhost:1234/"}, "scope": {armScope}, "code_verifier": {"wrong"}}
	if a := post(t, e, ten.ID, form); a.str("error") != "invalid_grant" {
		t.Errorf("a wrong verifier: %v", a.body)
	}
	code = func() string {
		l, _ := url.Parse(authz("http://localhost:1234/").Header.Get("Location"))
		return l.Query().Get("code")
	}()
	form.Set("code", code)
	form.Set("code_verifier", verifier)
	a := post(t, e, ten.ID, form)
	id, _ := ParseClaims(a.str("id_token"))
	if a.status != 200 || id.String("nonce") != "n0" || a.str("refresh_token") == "" {
		t.Errorf("redemption: %v (nonce %q)", a.body, id.String("nonce"))
	}
	if again := post(t, e, ten.ID, form); again.str("error") != "invalid_grant" {
		t.Errorf("a used code: %v", again.body)
	}
}

// A host added with Handle is served through the proxy, with a leaf of the
// emulator's CA; it stays refused until then.
func TestHandleAddsAHost(t *testing.T) {
	e := start(t, Config{})
	if _, err := e.Client().Get("https://dev.azure.com/org"); err == nil {
		t.Fatal("dev.azure.com served before Handle")
	}
	e.Handle("Dev.Azure.com", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello "+r.URL.Path)
	}))
	resp, err := e.Client().Get("https://dev.azure.com/org")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "hello /org" {
		t.Errorf("got %q", body)
	}
}
