package entraemu

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// foci lists the clients of Microsoft's "family of client ids" that share
// refresh tokens; Entra answers them with "foci": "1".
var foci = map[string]bool{
	"04b07795-8ddb-461a-bbee-02f9e1bf7b46": true, // Azure CLI
	"1950a258-227b-4e31-a9cf-717495945fc2": true, // Azure PowerShell
	"aebc6443-996d-45c2-90f0-388ff96faa56": true, // Visual Studio Code
}

const loginHost = "https://login.microsoftonline.com"

// statusWriter records the status code for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serveAPI answers a request that arrived through a TLS-terminated CONNECT
// tunnel for a served host.
func (e *Emulator) serveAPI(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	if r.TLS != nil && r.TLS.ServerName != "" && !strings.EqualFold(r.TLS.ServerName, host) {
		host = strings.ToLower(r.TLS.ServerName)
	}
	rec := Request{Time: time.Now(), Host: host, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery}
	if r.Method == http.MethodPost {
		_ = r.ParseForm()
		rec.GrantType = r.PostForm.Get("grant_type")
		rec.ClientID = r.PostForm.Get("client_id")
		rec.Scope = r.PostForm.Get("scope")
	}
	if e.cfg.Trace {
		e.trace(r)
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec.Status = sw.status
		e.record(rec)
	}()

	e.mu.Lock()
	delay := e.latency
	e.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if st := e.takeFault(host, r.URL.Path, rec.GrantType); st != 0 {
		if host == "management.azure.com" {
			armError(sw, st, "InternalServerError", "Injected fault (entraemu).")
		} else {
			oauthError(sw, st, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again. (injected by entraemu)")
		}
		rec.Error = "fault"
		return
	}
	switch host {
	case "management.azure.com":
		e.serveARM(sw, r, &rec)
	case "graph.microsoft.com":
		e.serveGraph(sw, r, &rec)
	default:
		e.serveEntra(sw, r, &rec)
	}
}

func (e *Emulator) serveEntra(w http.ResponseWriter, r *http.Request, rec *Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 0 || parts[0] == "" {
		http.NotFound(w, r)
		return
	}
	tenant := parts[0]
	rec.Tenant = tenant
	rest := strings.Join(parts[1:], "/")
	switch {
	case tenant == "common" && rest == "discovery/instance":
		e.instanceDiscovery(w, r)
	case tenant == "common" && strings.HasPrefix(rest, "userrealm/"):
		e.userRealm(w, strings.TrimPrefix(rest, "userrealm/"), rec)
	case tenant == "getuserrealm.srf":
		e.userRealm(w, r.URL.Query().Get("login"), rec)
	case rest == "v2.0/.well-known/openid-configuration" || rest == ".well-known/openid-configuration":
		e.openIDConfig(w, tenant, strings.HasPrefix(rest, "v2.0"))
	case rest == "discovery/v2.0/keys" || rest == "discovery/keys":
		e.jwks(w)
	case rest == "oauth2/v2.0/authorize" || rest == "oauth2/authorize":
		e.authorize(w, r, tenant, rec)
	case rest == "oauth2/v2.0/devicecode" || rest == "oauth2/devicecode":
		e.deviceCode(w, r, tenant)
	case rest == "oauth2/v2.0/token" || rest == "oauth2/token":
		if r.Method != http.MethodPost {
			oauthError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a "+r.Method+" request.")
			return
		}
		e.token(w, r, tenant, rec)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// oauthError answers an error the way Entra words it: "AADSTSnnnn: text"
// followed by trace and correlation ids and a timestamp.
func oauthError(w http.ResponseWriter, status int, code string, aadsts int, text string) {
	writeJSON(w, status, oauthErrorBody(code, aadsts, text))
}

func oauthErrorBody(code string, aadsts int, text string) map[string]any {
	now := time.Now().UTC()
	trace, corr := randUUID(), randUUID()
	ts := now.Format("2006-01-02 15:04:05Z")
	return map[string]any{
		"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			aadsts, text, trace, corr, now.Format("2006-01-02 15:04:05.0000000Z")),
		"error_codes":    []int{aadsts},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      fmt.Sprintf("%s/error?code=%d", loginHost, aadsts),
	}
}

func randUUID() string { return newIDSource(0).uuid() }

func (e *Emulator) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	authz := r.URL.Query().Get("authorization_endpoint")
	tenant := "common"
	if u, err := url.Parse(authz); err == nil {
		if p := strings.Split(strings.Trim(u.Path, "/"), "/"); len(p) > 0 && p[0] != "" {
			tenant = p[0]
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": loginHost + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": "login.microsoftonline.com",
			"preferred_cache":   "login.windows.net",
			"aliases":           []string{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"},
		}},
	})
}

func (e *Emulator) userRealm(w http.ResponseWriter, username string, rec *Request) {
	username, _ = url.PathUnescape(username)
	rec.Username = strings.ToLower(username)
	domain := username
	if i := strings.LastIndex(username, "@"); i >= 0 {
		domain = username[i+1:]
	}
	e.mu.Lock()
	t := e.findTenant(domain)
	e.mu.Unlock()
	kind := "Unknown"
	if t != nil {
		kind = "Managed"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ver":                 "1.0",
		"account_type":        kind,
		"domain_name":         domain,
		"cloud_instance_name": "microsoftonline.com",
		"cloud_audience_urn":  "urn:federation:MicrosoftOnline",
	})
}

// resolveTenantSegment maps a path segment to a tenant; multi-tenant
// segments (organizations, common) return ok with a nil tenant.
func (e *Emulator) resolveTenantSegment(seg string) (*Tenant, bool) {
	switch strings.ToLower(seg) {
	case "organizations", "common":
		return nil, true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.findTenant(seg)
	return t, t != nil
}

func invalidTenant(w http.ResponseWriter, seg string) {
	oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002,
		fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", seg))
}

func (e *Emulator) openIDConfig(w http.ResponseWriter, seg string, v2 bool) {
	t, ok := e.resolveTenantSegment(seg)
	if !ok {
		invalidTenant(w, seg)
		return
	}
	id := seg
	issuerID := "{tenantid}"
	if t != nil {
		id, issuerID = t.ID, t.ID
	}
	base := loginHost + "/" + id
	if !v2 {
		writeJSON(w, http.StatusOK, map[string]any{
			"token_endpoint":                        base + "/oauth2/token",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"jwks_uri":                              loginHost + "/common/discovery/keys",
			"response_modes_supported":              []string{"query", "fragment", "form_post"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token", "token"},
			"scopes_supported":                      []string{"openid"},
			"issuer":                                "https://sts.windows.net/" + issuerID + "/",
			"authorization_endpoint":                base + "/oauth2/authorize",
			"device_authorization_endpoint":         base + "/oauth2/devicecode",
			"end_session_endpoint":                  base + "/oauth2/logout",
			"tenant_region_scope":                   "NA",
			"cloud_instance_name":                   "microsoftonline.com",
			"cloud_graph_host_name":                 "graph.windows.net",
			"msgraph_host":                          "graph.microsoft.com",
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                loginHost + "/" + issuerID + "/v2.0",
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     "https://graph.microsoft.com/oidc/userinfo",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"kerberos_endpoint":                     base + "/kerberos",
		"tenant_region_scope":                   "NA",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
		"rbac_url":                              "https://pas.windows.net",
	})
}

func (e *Emulator) jwks(w http.ResponseWriter) {
	pub := e.signer.key.PublicKey
	eb := []byte{byte(pub.E >> 16), byte(pub.E >> 8), byte(pub.E)}
	for len(eb) > 1 && eb[0] == 0 {
		eb = eb[1:]
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "kid": e.signer.kid, "n": b64(pub.N.Bytes()), "e": b64(eb),
	}}})
}

func (e *Emulator) deviceCode(w http.ResponseWriter, r *http.Request, seg string) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests.")
		return
	}
	if _, ok := e.resolveTenantSegment(seg); !ok {
		invalidTenant(w, seg)
		return
	}
	clientID := r.PostForm.Get("client_id")
	if clientID == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	code := "DAQABAAEAAAD." + randToken(48)
	userCode := strings.ToUpper(newIDSource(0).hex(5))[:9]
	e.mu.Lock()
	e.state.devices[code] = &deviceFlow{tenant: seg, clientID: clientID, scope: r.PostForm.Get("scope"), expires: time.Now().Add(15 * time.Minute)}
	interval := e.cfg.DeviceInterval
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"user_code":        userCode,
		"device_code":      code,
		"verification_uri": "https://microsoft.com/devicelogin",
		"expires_in":       900,
		"interval":         interval,
		"message":          fmt.Sprintf("To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code %s to authenticate. (azkeep emulator: approved automatically)", userCode),
	})
}

// principal is who a token is issued to.
type principal struct {
	user   *User
	sp     *ServicePrincipal
	tenant *Tenant // the tenant the token is for
	home   *Tenant // the user's home tenant (client_info's utid)
	// scope overrides the request's scope: a device code redemption
	// carries none, the scope was sent with the device code request.
	scope string
	// nonce goes into the id token (browser logins: MSAL checks it).
	nonce string
}

func (e *Emulator) token(w http.ResponseWriter, r *http.Request, seg string, rec *Request) {
	f := r.PostForm
	if _, ok := e.resolveTenantSegment(seg); !ok {
		rec.Error = "invalid_tenant"
		invalidTenant(w, seg)
		return
	}
	clientID := f.Get("client_id")
	if clientID == "" && f.Get("grant_type") != GrantClientCredentials {
		rec.Error = "invalid_request"
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	var (
		p      principal
		status int
		body   map[string]any
	)
	switch f.Get("grant_type") {
	case GrantDeviceCode:
		p, status, body = e.grantDeviceCode(f, seg)
	case GrantPassword:
		p, status, body = e.grantPassword(f, seg)
	case GrantAuthorizationCode:
		p, status, body = e.grantAuthCode(f, seg)
	case GrantRefreshToken:
		p, status, body = e.grantRefresh(f, seg)
	case GrantClientCredentials:
		p, status, body = e.grantClientCredentials(r, seg)
	case "":
		status, body = http.StatusBadRequest, oauthErrorBody("invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	default:
		status, body = http.StatusBadRequest, oauthErrorBody("unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", f.Get("grant_type")))
	}
	if p.user != nil {
		rec.Username = strings.ToLower(p.user.Username)
	}
	if body != nil {
		rec.Error, _ = body["error"].(string)
		writeJSON(w, status, body)
		return
	}
	scope := f.Get("scope")
	if scope == "" && f.Get("resource") != "" {
		// The v1 endpoint (ADAL clients) names a resource instead.
		scope = strings.TrimSuffix(f.Get("resource"), "/") + "/.default"
		if strings.HasSuffix(f.Get("resource"), "/") {
			scope = f.Get("resource") + "/.default"
		}
		scope += " offline_access openid"
	}
	if p.scope != "" {
		scope = p.scope
	}
	rec.Scope = scope
	resp, err := e.issue(p, clientID, scope)
	if err != nil {
		rec.Error = "server_error"
		oauthError(w, http.StatusInternalServerError, "server_error", 90033, "A transient error has occurred. Please try again.")
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (e *Emulator) grantDeviceCode(f url.Values, seg string) (principal, int, map[string]any) {
	code := f.Get("device_code")
	if code == "" {
		code = f.Get("code") // older MSAL sends "code"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	flow := e.state.devices[code]
	switch {
	case flow == nil:
		return principal{}, 400, oauthErrorBody("invalid_grant", 70000, "Provided grant is invalid or malformed.")
	case flow.done:
		return principal{}, 400, oauthErrorBody("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case time.Now().After(flow.expires):
		return principal{}, 400, oauthErrorBody("expired_token", 70019, "Verification code expired.")
	case flow.polls < e.cfg.DevicePolls:
		flow.polls++
		return principal{}, 400, oauthErrorBody("authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	}
	var u *User
	var home *Tenant
	pt := e.findTenant(seg)
	switch {
	case e.state.deviceUser != "":
		u, home = e.findUser(e.state.deviceUser)
	case pt != nil && len(pt.Users) > 0:
		u, home = &pt.Users[0], pt
	case pt == nil && len(e.tenants) > 0 && len(e.tenants[0].Users) > 0:
		u, home = &e.tenants[0].Users[0], e.tenants[0]
	}
	if u == nil {
		return principal{}, 400, oauthErrorBody("invalid_grant", 50034, "The user account does not exist in the directory.")
	}
	t, body := e.tenantFor(u, home, pt, flow.clientID)
	if body != nil {
		return principal{user: u}, 400, body
	}
	flow.done = true
	return principal{user: u, tenant: t, home: home, scope: flow.scope}, 0, nil
}

func (e *Emulator) grantPassword(f url.Values, seg string) (principal, int, map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, t := e.findUser(f.Get("username"))
	if u == nil {
		return principal{}, 400, oauthErrorBody("invalid_grant", 50034, fmt.Sprintf("The user account {EmailHidden} does not exist in the %s directory. To sign into this application, the account must be added to the directory.", seg))
	}
	home := t
	t, body := e.tenantFor(u, home, e.findTenant(seg), f.Get("client_id"))
	if body != nil {
		return principal{}, 400, body
	}
	if subtle.ConstantTimeCompare([]byte(u.Password), []byte(f.Get("password"))) != 1 {
		return principal{}, 400, oauthErrorBody("invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
	}
	if e.state.interaction[strings.ToLower(u.Username)] {
		return principal{user: u}, 400, interactionBody()
	}
	return principal{user: u, tenant: t, home: home}, 0, nil
}

// tenantFor is the tenant a token for u requested on tenant path segment
// pt (nil: organizations/common) is issued in: pt when u is a member or a
// guest there, else an AADSTS50020 error. Caller holds mu.
func (e *Emulator) tenantFor(u *User, home, pt *Tenant, clientID string) (*Tenant, map[string]any) {
	if pt == nil || pt == home {
		return home, nil
	}
	for _, g := range pt.Guests {
		if equalFold(g, u.Username) {
			return pt, nil
		}
	}
	return nil, oauthErrorBody("invalid_grant", 50020, fmt.Sprintf("User account '{EmailHidden}' from identity provider 'https://sts.windows.net/%s/' does not exist in tenant '%s' and cannot access the application '%s'(Microsoft Azure CLI) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.", home.ID, pt.DisplayName, clientID))
}

func interactionBody() map[string]any {
	b := oauthErrorBody("interaction_required", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '797f4846-ba00-4fd7-ba43-dac1f8f63013'.")
	b["suberror"] = "basic_action"
	return b
}

func (e *Emulator) grantRefresh(f url.Values, seg string) (principal, int, map[string]any) {
	rt := f.Get("refresh_token")
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.state.refresh[rt]
	if g == nil {
		return principal{}, 400, oauthErrorBody("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
	}
	u, home := e.findUser(g.username)
	if u == nil {
		return principal{}, 400, oauthErrorBody("invalid_grant", 50034, "The user account {EmailHidden} does not exist in the directory.")
	}
	p := principal{user: u, tenant: home, home: home}
	if body := e.refreshProblemLocked(g); body != nil {
		return p, 400, body
	}
	t, body := e.tenantFor(u, home, e.findTenant(seg), f.Get("client_id"))
	if body != nil {
		return p, 400, body
	}
	p.tenant = t
	if e.state.interaction[g.username] {
		return p, 400, interactionBody()
	}
	// Refresh tokens rotate on every redemption: the answer carries a new
	// one; in strict mode the old one is dead from now on.
	g.redeemed = true
	return p, 0, nil
}

// refreshProblemLocked returns the error body for a refresh token that is
// no longer accepted, or nil. Caller holds mu.
func (e *Emulator) refreshProblemLocked(g *refreshGrant) map[string]any {
	if vf, ok := e.state.validFrom[g.username]; ok && g.issued.Before(vf) {
		return oauthErrorBody("invalid_grant", 50173, fmt.Sprintf("The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom date (before which tokens are not valid) for this user is '%s'.",
			g.issued.UTC().Format("2006-01-02T15:04:05.0000000Z"), vf.UTC().Format("2006-01-02T15:04:05.0000000Z")))
	}
	if g.redeemed && e.cfg.StrictRefresh {
		return oauthErrorBody("invalid_grant", 700084, "The refresh token was already redeemed and is single-use (azkeep emulator --strict-refresh): store and use the refresh token returned with it.")
	}
	return nil
}

func (e *Emulator) grantClientCredentials(r *http.Request, seg string) (principal, int, map[string]any) {
	f := r.PostForm
	appID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		appID, secret = u, p
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	sp, t := e.findSP(appID)
	pt := e.findTenant(seg)
	if sp == nil || pt == nil || pt != t {
		dir := seg
		if pt != nil {
			dir = pt.ID
		}
		return principal{}, 400, oauthErrorBody("unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", appID, dir))
	}
	if f.Get("client_assertion") != "" {
		return principal{}, 401, oauthErrorBody("invalid_client", 700027, "Client assertion failed signature validation. (the emulator accepts client secrets only)")
	}
	if subtle.ConstantTimeCompare([]byte(sp.Secret), []byte(secret)) != 1 {
		return principal{}, 401, oauthErrorBody("invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", appID))
	}
	return principal{sp: sp, tenant: t}, 0, nil
}

// reserved are the OIDC scopes MSAL adds to every request.
var reserved = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// resourceOf splits a requested scope string into the resource (the
// access token's audience) and the scope Entra answers with.
func resourceOf(scope string) (resource, answer string) {
	var res []string
	for _, s := range strings.Fields(scope) {
		if !reserved[s] {
			res = append(res, s)
		}
	}
	if len(res) == 0 {
		return "https://graph.microsoft.com", "https://graph.microsoft.com/User.Read https://graph.microsoft.com/profile https://graph.microsoft.com/openid https://graph.microsoft.com/email"
	}
	first := res[0]
	if strings.HasSuffix(first, "/.default") {
		// Entra answers a .default request with the delegated permission
		// and the .default scope itself; az keys its cache on this text.
		resource = strings.TrimSuffix(first, "/.default")
		return resource, resource + "/user_impersonation " + first
	}
	if i := strings.LastIndex(first, "/"); i > len("https://") {
		return first[:i], strings.Join(res, " ")
	}
	return first, strings.Join(res, " ")
}

func hasScope(scope, want string) bool {
	for _, s := range strings.Fields(scope) {
		if s == want {
			return true
		}
	}
	return false
}

// issue mints the token answer for p.
func (e *Emulator) issue(p principal, clientID, scope string) (map[string]any, error) {
	e.mu.Lock()
	lifetime := e.cfg.TokenLifetime
	e.mu.Unlock()
	now := time.Now()
	exp := now.Add(lifetime)
	resource, answer := resourceOf(scope)
	secs := int(lifetime / time.Second)
	t := p.tenant
	common := map[string]any{
		"aud": resource,
		"iss": "https://sts.windows.net/" + t.ID + "/",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": exp.Unix(),
		"aio": randToken(24),
		"rh":  "0.AZEMU" + randToken(12) + ".",
		"tid": t.ID,
		"uti": randToken(16),
		"ver": "1.0",
	}
	if p.sp != nil {
		common["appid"] = p.sp.AppID
		common["appidacr"] = "1"
		common["idp"] = "https://sts.windows.net/" + t.ID + "/"
		common["idtyp"] = "app"
		common["oid"] = p.sp.ObjectID
		common["sub"] = p.sp.ObjectID
		at, err := e.signer.sign(common)
		if err != nil {
			return nil, err
		}
		e.remember(at, resource, t.ID, p.sp.ObjectID, exp)
		// Entra's client-credentials answer has no scope: MSAL caches the
		// requested scopes as the target.
		return map[string]any{
			"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": at,
		}, nil
	}
	u := p.user
	given, family, _ := strings.Cut(u.DisplayName, " ")
	for k, v := range map[string]any{
		"acr": "1", "amr": []string{"pwd"}, "appid": clientID, "appidacr": "0",
		"family_name": family, "given_name": given, "idtyp": "user", "ipaddr": "127.0.0.1",
		"name": u.DisplayName, "oid": u.ObjectID, "puid": "10032001" + strings.ToUpper(u.ObjectID[:8]),
		"scp": "user_impersonation", "sub": randToken(32), "unique_name": u.Username, "upn": u.Username,
	} {
		common[k] = v
	}
	at, err := e.signer.sign(common)
	if err != nil {
		return nil, err
	}
	e.remember(at, resource, t.ID, u.ObjectID, exp)
	resp := map[string]any{
		"token_type":     "Bearer",
		"scope":          answer,
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   at,
	}
	if hasScope(scope, "offline_access") {
		rt := RefreshTokenPrefix + randToken(96)
		e.mu.Lock()
		e.state.refresh[rt] = &refreshGrant{username: strings.ToLower(u.Username), tenantID: t.ID, clientID: clientID, issued: now}
		e.mu.Unlock()
		resp["refresh_token"] = rt
	}
	if foci[clientID] {
		resp["foci"] = "1"
	}
	if hasScope(scope, "openid") {
		idClaims := map[string]any{
			"aud": clientID,
			"iss": loginHost + "/" + t.ID + "/v2.0",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"name": u.DisplayName, "oid": u.ObjectID, "preferred_username": u.Username,
			"rh": "0.AZEMU" + randToken(12) + ".", "sub": randToken(32), "tid": t.ID,
			"uti": randToken(16), "ver": "2.0",
		}
		if p.nonce != "" {
			idClaims["nonce"] = p.nonce
		}
		id, err := e.signer.sign(idClaims)
		if err != nil {
			return nil, err
		}
		resp["id_token"] = id
	}
	home := p.home
	if home == nil {
		home = t
	}
	ci, _ := json.Marshal(map[string]string{"uid": u.ObjectID, "utid": home.ID})
	resp["client_info"] = b64(ci)
	return resp, nil
}

func (e *Emulator) remember(at, aud, tid, oid string, exp time.Time) {
	e.mu.Lock()
	e.state.issued[fingerprint(at)] = issuedToken{Audience: aud, TenantID: tid, ObjectID: oid, Expires: exp}
	e.mu.Unlock()
}

// secretFields are form fields the trace never prints the value of.
var secretFields = map[string]bool{
	"refresh_token": true, "device_code": true, "code": true, "password": true,
	"client_secret": true, "client_assertion": true, "assertion": true, "code_verifier": true,
}

// trace logs what a client sent: method, URL, header names (Authorization
// redacted) and form fields, secret values redacted.
func (e *Emulator) trace(r *http.Request) {
	var hs []string
	for k, v := range r.Header {
		if k == "Authorization" {
			hs = append(hs, k+": <redacted>")
			continue
		}
		hs = append(hs, k+": "+strings.Join(v, ","))
	}
	sort.Strings(hs)
	var fs []string
	for k, v := range r.PostForm {
		val := strings.Join(v, ",")
		if secretFields[k] {
			val = "<redacted>"
		}
		fs = append(fs, k+"="+val)
	}
	sort.Strings(fs)
	e.logf("entraemu: trace %s https://%s%s\n  headers: %s\n  form: %s", r.Method, r.Host, r.URL.RequestURI(), strings.Join(hs, "; "), strings.Join(fs, " "))
}

// authorize is the browser sign-in page: it signs in at once (as the
// tenant's first user, or ApproveDeviceCodesAs) and redirects to the
// client's loopback redirect URI with a code, as Entra does after the user
// picked an account. A "browser" for tests is testbed.BrowserEnv.
func (e *Emulator) authorize(w http.ResponseWriter, r *http.Request, seg string, rec *Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme != "http" || !isLoopbackHost(redirect.Hostname()) {
		// Only loopback redirects: the emulator never sends a code elsewhere.
		oauthError(w, http.StatusBadRequest, "invalid_request", 50011, "The redirect URI specified in the request does not match the redirect URIs configured for the application (the emulator accepts http://localhost redirects only).")
		return
	}
	if q.Get("response_type") != "code" || q.Get("client_id") == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameters: 'client_id' and 'response_type=code'.")
		return
	}
	if m := q.Get("code_challenge_method"); q.Get("code_challenge") != "" && m != "S256" && m != "plain" && m != "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", 501491, "Invalid code_challenge_method.")
		return
	}
	e.mu.Lock()
	pt := e.findTenant(seg)
	if pt == nil && !equalFold(seg, "organizations") && !equalFold(seg, "common") {
		e.mu.Unlock()
		invalidTenant(w, seg)
		return
	}
	var u *User
	var home *Tenant
	switch {
	case e.state.deviceUser != "":
		u, home = e.findUser(e.state.deviceUser)
	case pt != nil && len(pt.Users) > 0:
		u, home = &pt.Users[0], pt
	case pt == nil && len(e.tenants) > 0 && len(e.tenants[0].Users) > 0:
		u, home = &e.tenants[0].Users[0], e.tenants[0]
	}
	if u == nil {
		e.mu.Unlock()
		oauthError(w, http.StatusBadRequest, "invalid_grant", 50034, "The user account does not exist in the directory.")
		return
	}
	code := "0.AZEMUCODE." + randToken(48)
	e.state.authCodes[code] = &authCode{
		username: strings.ToLower(u.Username), tenant: seg, clientID: q.Get("client_id"),
		redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"),
		nonce: q.Get("nonce"), expires: time.Now().Add(10 * time.Minute),
	}
	ci, _ := json.Marshal(map[string]string{"uid": u.ObjectID, "utid": home.ID})
	e.mu.Unlock()
	rec.Username = strings.ToLower(u.Username)
	rec.ClientID = q.Get("client_id")
	rec.Scope = q.Get("scope")
	rec.Query = "" // the query holds state and nonce; keep the log lean

	back := redirect.Query()
	back.Set("code", code)
	back.Set("client_info", b64(ci))
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	back.Set("session_state", randUUID())
	redirect.RawQuery = back.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (e *Emulator) grantAuthCode(f url.Values, seg string) (principal, int, map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.state.authCodes[f.Get("code")]
	switch {
	case c == nil:
		return principal{}, 400, oauthErrorBody("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
	case c.used:
		return principal{}, 400, oauthErrorBody("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case time.Now().After(c.expires):
		return principal{}, 400, oauthErrorBody("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	case c.redirectURI != f.Get("redirect_uri"):
		return principal{}, 400, oauthErrorBody("invalid_grant", 500112, "The reply address does not match the reply address provided when requesting Authorization code.")
	case c.clientID != f.Get("client_id"):
		return principal{}, 400, oauthErrorBody("invalid_grant", 70000, "Provided grant is invalid or malformed. The client does not match the one the code was issued to.")
	}
	if c.challenge != "" {
		v := f.Get("code_verifier")
		got := v
		if c.method == "S256" || c.method == "" {
			sum := sha256.Sum256([]byte(v))
			got = b64(sum[:])
		}
		if v == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.challenge)) != 1 {
			return principal{}, 400, oauthErrorBody("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		}
	}
	c.used = true
	u, home := e.findUser(c.username)
	if u == nil {
		return principal{}, 400, oauthErrorBody("invalid_grant", 50034, "The user account does not exist in the directory.")
	}
	t, body := e.tenantFor(u, home, e.findTenant(c.tenant), c.clientID)
	if body != nil {
		return principal{user: u}, 400, body
	}
	return principal{user: u, tenant: t, home: home, nonce: c.nonce}, 0, nil
}
