package entraemu

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The device code and token endpoints: the grants az 2.45 uses and the
// answer Entra gives.

// deviceCode starts a device code flow; the scope sent here is the one the
// token is issued for (az's token polls carry none).
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

// token is the token endpoint: it dispatches on the grant type and answers
// with tokens or an error worded as Entra words it.
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

// grantDeviceCode redeems a device code: authorization_pending for the
// configured number of polls, then tokens for the approving user.
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
	pt := e.findTenant(seg)
	u, home := e.interactiveUser(pt)
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

// grantPassword is the resource owner password grant (az login -u -p).
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

// interactionBody is the answer after a new MFA policy: the user must
// sign in interactively.
func interactionBody() map[string]any {
	b := oauthErrorBody("interaction_required", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '797f4846-ba00-4fd7-ba43-dac1f8f63013'.")
	b["suberror"] = "basic_action"
	return b
}

// grantRefresh redeems a refresh token, which rotates: the answer carries a
// new one.
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
	if d := e.cfg.RefreshTokenLifetime; d > 0 && time.Since(g.issued) > d {
		return oauthErrorBody("invalid_grant", 700082, fmt.Sprintf("The refresh token has expired due to inactivity. The token was issued on %s and was inactive for %s.",
			g.issued.UTC().Format("2006-01-02T15:04:05.0000000Z"), time.Since(g.issued).Round(time.Second)))
	}
	if g.redeemed && e.cfg.StrictRefresh {
		return oauthErrorBody("invalid_grant", 700084, "The refresh token was already redeemed and is single-use (azkeep emulator --strict-refresh): store and use the refresh token returned with it.")
	}
	return nil
}

// grantClientCredentials signs a service principal in with its secret.
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

// hasScope reports whether the space-separated scope holds want.
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

// remember records an issued access token (by fingerprint) for ARM's bearer
// check and Issued.
func (e *Emulator) remember(at, aud, tid, oid string, exp time.Time) {
	e.mu.Lock()
	e.state.issued[fingerprint(at)] = issuedToken{Audience: aud, TenantID: tid, ObjectID: oid, Expires: exp}
	e.mu.Unlock()
}
