package entraemu

import (
	"net/http"
	"strings"
	"time"
)

// serveARM answers the Azure Resource Manager calls az makes: the tenants
// and subscriptions the caller's token can see.
func (e *Emulator) serveARM(w http.ResponseWriter, r *http.Request, rec *Request) {
	claims, ok := e.bearer(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`)
		armError(w, http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing or the access token is invalid or expired.")
		return
	}
	tid := claims.TenantID
	rec.Tenant = tid
	path := strings.TrimSuffix(strings.ToLower(r.URL.Path), "/")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method != http.MethodGet:
		armError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "The emulator serves GET requests only.")
	case path == "/tenants":
		e.mu.Lock()
		var list []map[string]any
		tenants := e.memberOf(claims.ObjectID)
		if len(tenants) == 0 { // a service principal
			if t := e.findTenant(tid); t != nil {
				tenants = append(tenants, t)
			}
		}
		for _, t := range tenants {
			list = append(list, tenantJSON(t))
		}
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list)})
	case path == "/subscriptions":
		e.mu.Lock()
		var list []map[string]any
		if t := e.findTenant(tid); t != nil {
			for _, s := range t.Subscriptions {
				list = append(list, subscriptionJSON(s))
			}
		}
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"value": nonNil(list), "count": map[string]any{"type": "Total", "value": len(list)}})
	case len(parts) == 2 && parts[0] == "subscriptions":
		e.mu.Lock()
		var found map[string]any
		if t := e.findTenant(tid); t != nil {
			for _, s := range t.Subscriptions {
				if equalFold(s.ID, parts[1]) {
					found = subscriptionJSON(s)
				}
			}
		}
		e.mu.Unlock()
		if found == nil {
			armError(w, http.StatusNotFound, "SubscriptionNotFound", "The subscription '"+parts[1]+"' could not be found.")
			return
		}
		writeJSON(w, http.StatusOK, found)
	default:
		armError(w, http.StatusNotFound, "NotImplemented", "The emulator does not serve "+r.URL.Path+".")
	}
}

func nonNil(l []map[string]any) []map[string]any {
	if l == nil {
		return []map[string]any{}
	}
	return l
}

// bearer checks the Authorization header holds an unexpired access token
// this emulator issued for ARM.
func (e *Emulator) bearer(r *http.Request) (issuedToken, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return issuedToken{}, false
	}
	e.mu.Lock()
	it, ok := e.state.issued[fingerprint(strings.TrimSpace(tok))]
	e.mu.Unlock()
	if !ok || time.Now().After(it.Expires) {
		return issuedToken{}, false
	}
	if !strings.HasPrefix(it.Audience, "https://management.core.windows.net") && !strings.HasPrefix(it.Audience, "https://management.azure.com") {
		return issuedToken{}, false
	}
	return it, true
}

func tenantJSON(t *Tenant) map[string]any {
	return map[string]any{
		"id":             "/tenants/" + t.ID,
		"tenantId":       t.ID,
		"countryCode":    "US",
		"displayName":    t.DisplayName,
		"domains":        []string{t.Domain},
		"tenantCategory": "Home",
		"defaultDomain":  t.Domain,
		"tenantType":     "AAD",
	}
}

func subscriptionJSON(s Subscription) map[string]any {
	return map[string]any{
		"id":                   "/subscriptions/" + s.ID,
		"authorizationSource":  "RoleBased",
		"managedByTenants":     []any{},
		"subscriptionId":       s.ID,
		"tenantId":             s.TenantID,
		"displayName":          s.Name,
		"state":                s.State,
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
	}
}

func armError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}
