package entraemu

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
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
	if h := e.handler(host); h != nil {
		h.ServeHTTP(w, r)
		return
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

// serveEntra routes a request for login.microsoftonline.com by path.
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

// writeJSON answers v as JSON, uncached, as Entra and ARM do.
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

// oauthErrorBody is the JSON of an OAuth error as Entra sends it.
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

// randUUID is a random (never seeded) UUID for trace and correlation ids.
func randUUID() string { return newIDSource(0).uuid() }

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
