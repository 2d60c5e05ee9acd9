package entraemu

import (
	"fmt"
	"strings"
	"time"
)

// Request is one entry of the request log. It never holds a secret: no
// token, code, password, client secret or assertion, only what a test needs
// to say which call was made.
type Request struct {
	Time   time.Time `json:"time"`
	Host   string    `json:"host"` // login.microsoftonline.com, management.azure.com, or the refused/tunnelled host:port
	Method string    `json:"method"`
	Path   string    `json:"path"`            // without the query
	Query  string    `json:"query,omitempty"` // the query string (ARM api-version, user realm …); never secret here
	// Token endpoint fields, from the form.
	GrantType string `json:"grant_type,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Scope     string `json:"scope,omitempty"`
	// Tenant is the tenant segment of an Entra path (an id, a domain,
	// organizations or common), or the tenant of an ARM caller's token.
	Tenant string `json:"tenant,omitempty"`
	// Username is the account the request is about (password grant, user
	// realm, the refresh token's user) when known.
	Username string `json:"username,omitempty"`
	Status   int    `json:"status"`
	// Error is the OAuth error code of a failed token request
	// (invalid_grant, authorization_pending …).
	Error string `json:"error,omitempty"`
	// Refused is set for a host the emulator does not serve; Tunnel for a
	// loopback pass-through.
	Refused bool `json:"refused,omitempty"`
	Tunnel  bool `json:"tunnel,omitempty"`
}

func (r Request) String() string {
	s := fmt.Sprintf("%s %s %s%s", r.Time.Format("15:04:05.000"), r.Method, r.Host, r.Path)
	if r.GrantType != "" {
		s += " grant_type=" + r.GrantType
	}
	if r.Scope != "" {
		s += fmt.Sprintf(" scope=%q", r.Scope)
	}
	if r.Error != "" {
		s += " error=" + r.Error
	}
	if r.Refused {
		s += " REFUSED"
	}
	return fmt.Sprintf("%s -> %d", s, r.Status)
}

// Grant types as the token endpoint receives them.
const (
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
)

// maxLog bounds the request log of a long-running emulator.
const maxLog = 100000

func (e *Emulator) record(r Request) {
	e.mu.Lock()
	if len(e.log) >= maxLog {
		e.log = append(e.log[:0], e.log[len(e.log)-maxLog/2:]...)
	}
	e.log = append(e.log, r)
	e.mu.Unlock()
	if !r.Refused {
		e.logf("entraemu: %s", r)
	}
}

// Requests returns a copy of the request log, oldest first.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.log...)
}

// ResetRequests empties the request log.
func (e *Emulator) ResetRequests() {
	e.mu.Lock()
	e.log = nil
	e.mu.Unlock()
}

// TokenRequests returns the logged token endpoint requests with this grant
// type ("" for all of them).
func (e *Emulator) TokenRequests(grantType string) []Request {
	var out []Request
	for _, r := range e.Requests() {
		if strings.HasSuffix(r.Path, "/oauth2/v2.0/token") || strings.HasSuffix(r.Path, "/oauth2/token") {
			if grantType == "" || r.GrantType == grantType {
				out = append(out, r)
			}
		}
	}
	return out
}

// CountGrants counts token requests with this grant type, e.g.
// entraemu.GrantRefreshToken.
func (e *Emulator) CountGrants(grantType string) int { return len(e.TokenRequests(grantType)) }

// Refused returns the refused proxy requests (hosts the emulator does not
// serve).
func (e *Emulator) Refused() []Request {
	var out []Request
	for _, r := range e.Requests() {
		if r.Refused {
			out = append(out, r)
		}
	}
	return out
}

// ARMRequests returns the logged requests to management.azure.com.
func (e *Emulator) ARMRequests() []Request {
	var out []Request
	for _, r := range e.Requests() {
		if r.Host == "management.azure.com" && !r.Refused {
			out = append(out, r)
		}
	}
	return out
}
