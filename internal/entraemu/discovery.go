package entraemu

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Discovery: the documents MSAL and az read before any token request.

// instanceDiscovery answers MSAL's instance discovery (asked for an
// authority host it does not know, and by az logout of a service principal).
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

// userRealm tells MSAL how a username signs in (Managed for the emulated
// domains: no federation, the password grant goes to the token endpoint).
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

// openIDConfig is the OpenID discovery document, v2 and v1 (az reads the v1
// issuer to turn a tenant domain into its id).
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

// jwks publishes the token signing key.
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
