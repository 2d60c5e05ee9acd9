package entraemu

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

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
	u, home := e.interactiveUser(pt)
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

// grantAuthCode redeems a browser login's code, checking the redirect URI,
// client and PKCE verifier.
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
