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
	case len(parts) == 3 && parts[0] == "subscriptions" && (parts[2] == "resourcegroups" || parts[2] == "locations"):
		// Enough for `az group list` and `az account list-locations` to
		// answer in a demo: no resource groups, three regions.
		if !e.callerSees(tid, parts[1]) {
			armError(w, http.StatusNotFound, "SubscriptionNotFound", "The subscription '"+parts[1]+"' could not be found.")
			return
		}
		if parts[2] == "resourcegroups" {
			writeJSON(w, http.StatusOK, map[string]any{"value": []any{}})
			return
		}
		var locs []map[string]any
		for _, l := range [][3]string{{"eastus", "East US", "US"}, {"westeurope", "West Europe", "Europe"}, {"southeastasia", "Southeast Asia", "Asia Pacific"}} {
			locs = append(locs, map[string]any{
				"id": "/subscriptions/" + parts[1] + "/locations/" + l[0], "name": l[0], "displayName": l[1], "regionalDisplayName": "(" + l[2] + ") " + l[1],
				"type": "Region", "metadata": map[string]any{"regionType": "Physical", "regionCategory": "Recommended", "geographyGroup": l[2]},
			})
		}
		writeJSON(w, http.StatusOK, map[string]any{"value": locs})
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

// callerSees reports whether tenant tid holds subscription id.
func (e *Emulator) callerSees(tid, id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := e.findTenant(tid); t != nil {
		for _, s := range t.Subscriptions {
			if equalFold(s.ID, id) {
				return true
			}
		}
	}
	return false
}

// serveGraph answers GET /v1.0/me on graph.microsoft.com, for
// `az ad signed-in-user show`.
func (e *Emulator) serveGraph(w http.ResponseWriter, r *http.Request, rec *Request) {
	it, ok := e.bearerFor(r, "https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000")
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"code": "InvalidAuthenticationToken", "message": "Access token is empty or invalid."}})
		return
	}
	rec.Tenant = it.TenantID
	if strings.TrimSuffix(strings.ToLower(r.URL.Path), "/") != "/v1.0/me" || r.Method != http.MethodGet {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "Request_ResourceNotFound", "message": "The emulator serves GET /v1.0/me only."}})
		return
	}
	e.mu.Lock()
	var me map[string]any
	for _, t := range e.tenants {
		for _, u := range t.Users {
			if u.ObjectID == it.ObjectID {
				given, family, _ := strings.Cut(u.DisplayName, " ")
				me = map[string]any{
					"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity",
					"businessPhones": []any{}, "displayName": u.DisplayName, "givenName": given, "surname": family,
					"jobTitle": nil, "mail": nil, "mobilePhone": nil, "officeLocation": nil, "preferredLanguage": nil,
					"userPrincipalName": u.Username, "id": u.ObjectID,
				}
			}
		}
	}
	e.mu.Unlock()
	if me == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "Request_ResourceNotFound", "message": "/me is for users only."}})
		return
	}
	writeJSON(w, http.StatusOK, me)
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
	return e.bearerFor(r, "https://management.core.windows.net", "https://management.azure.com")
}

// bearerFor checks the bearer token is one the emulator issued, unexpired,
// for one of the audiences (by prefix).
func (e *Emulator) bearerFor(r *http.Request, audiences ...string) (issuedToken, bool) {
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
	for _, a := range audiences {
		if strings.HasPrefix(it.Audience, a) {
			return it, true
		}
	}
	return issuedToken{}, false
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
