package entraemu

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// RevokeUser revokes every refresh token issued to username so far, as a
// password reset or "revoke sessions" does: redeeming one fails with
// invalid_grant (AADSTS50173). Tokens issued afterwards work.
func (e *Emulator) RevokeUser(username string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, _ := e.findUser(username)
	if u == nil {
		return fmt.Errorf("entraemu: no user %q", username)
	}
	e.state.validFrom[strings.ToLower(u.Username)] = time.Now()
	return nil
}

// RequireInteraction makes every non-interactive grant (refresh token) for
// username fail with interaction_required (AADSTS50076), as after a new MFA
// policy, until turned off. Device code logins still succeed.
func (e *Emulator) RequireInteraction(username string, on bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, _ := e.findUser(username)
	if u == nil {
		return fmt.Errorf("entraemu: no user %q", username)
	}
	e.state.interaction[strings.ToLower(u.Username)] = on
	return nil
}

// AddGuest invites username (a user of another tenant) into tenantID, as
// an Entra B2B guest: the user can then get tokens for that tenant, /tenants
// lists it, and /subscriptions with such a token lists its subscriptions.
// The account keeps its home tenant (client_info's utid).
func (e *Emulator) AddGuest(username, tenantID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	u, home := e.findUser(username)
	if u == nil {
		return fmt.Errorf("entraemu: no user %q", username)
	}
	t := e.findTenant(tenantID)
	if t == nil {
		return fmt.Errorf("entraemu: no tenant %q", tenantID)
	}
	if t == home {
		return nil
	}
	for _, g := range t.Guests {
		if equalFold(g, u.Username) {
			return nil
		}
	}
	t.Guests = append(t.Guests, u.Username)
	return nil
}

// ApproveDeviceCodesAs makes device code logins sign in as username (by
// default the first user of the requested tenant, or of the first tenant
// for organizations/common). "" restores the default.
func (e *Emulator) ApproveDeviceCodesAs(username string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if username != "" {
		if u, _ := e.findUser(username); u == nil {
			return fmt.Errorf("entraemu: no user %q", username)
		}
	}
	e.state.deviceUser = username
	return nil
}

// SetStrictRefresh turns single-use refresh tokens on or off while running.
func (e *Emulator) SetStrictRefresh(on bool) {
	e.mu.Lock()
	e.cfg.StrictRefresh = on
	e.mu.Unlock()
}

// SetTokenLifetime changes the lifetime of access tokens issued from now on.
func (e *Emulator) SetTokenLifetime(d time.Duration) {
	e.mu.Lock()
	e.cfg.TokenLifetime = d
	e.mu.Unlock()
}

// SetRefreshTokenLifetime makes refresh tokens expire d after issue (0:
// never), checked at redemption, for tokens issued before and after.
func (e *Emulator) SetRefreshTokenLifetime(d time.Duration) {
	e.mu.Lock()
	e.cfg.RefreshTokenLifetime = d
	e.mu.Unlock()
}

// SetDevicePolls changes how many pending answers precede approval.
func (e *Emulator) SetDevicePolls(n int) {
	e.mu.Lock()
	e.cfg.DevicePolls = n
	e.mu.Unlock()
}

// AddSubscription adds an enabled subscription to a tenant and returns it.
func (e *Emulator) AddSubscription(tenantID, name string) (Subscription, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.findTenant(tenantID)
	if t == nil {
		return Subscription{}, fmt.Errorf("entraemu: no tenant %q", tenantID)
	}
	s := Subscription{ID: e.rnd.uuid(), Name: name, State: "Enabled", TenantID: t.ID}
	t.Subscriptions = append(t.Subscriptions, s)
	return s, nil
}

// RenameSubscription changes a subscription's display name.
func (e *Emulator) RenameSubscription(id, name string) error {
	return e.editSubscription(id, func(s *Subscription) { s.Name = name })
}

// SetSubscriptionState sets a subscription's state (Enabled, Disabled,
// Warned, PastDue, Deleted).
func (e *Emulator) SetSubscriptionState(id, state string) error {
	return e.editSubscription(id, func(s *Subscription) { s.State = state })
}

// DisableSubscription is SetSubscriptionState(id, "Disabled").
func (e *Emulator) DisableSubscription(id string) error {
	return e.SetSubscriptionState(id, "Disabled")
}

func (e *Emulator) editSubscription(id string, f func(*Subscription)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.tenants {
		for i := range t.Subscriptions {
			if equalFold(t.Subscriptions[i].ID, id) {
				f(&t.Subscriptions[i])
				return nil
			}
		}
	}
	return fmt.Errorf("entraemu: no subscription %q", id)
}

// RemoveSubscription deletes a subscription: ARM no longer lists it.
func (e *Emulator) RemoveSubscription(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.tenants {
		for i := range t.Subscriptions {
			if equalFold(t.Subscriptions[i].ID, id) {
				t.Subscriptions = append(t.Subscriptions[:i], t.Subscriptions[i+1:]...)
				return nil
			}
		}
	}
	return fmt.Errorf("entraemu: no subscription %q", id)
}

// SetLatency delays every emulated API answer by d (0 turns it off).
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	e.latency = d
	e.mu.Unlock()
}

// Fault makes matching requests fail with Status instead of being served.
type Fault struct {
	// Host matches the request's host ("" for any served host).
	Host string `json:"host,omitempty"`
	// PathContains matches a substring of the path ("" for any), e.g.
	// "/oauth2/v2.0/token" or "/subscriptions".
	PathContains string `json:"path_contains,omitempty"`
	// GrantType, when set, matches token requests of that grant only.
	GrantType string `json:"grant_type,omitempty"`
	// Status is the HTTP status to answer (default 503).
	Status int `json:"status,omitempty"`
	// Count is how many requests fail before the fault clears itself
	// (0: until ClearFaults).
	Count int `json:"count,omitempty"`
}

// AddFault installs a fault.
func (e *Emulator) AddFault(f Fault) {
	if f.Status == 0 {
		f.Status = http.StatusServiceUnavailable
	}
	e.mu.Lock()
	e.faults = append(e.faults, &f)
	e.mu.Unlock()
}

// FailNext makes the next n requests to any served host answer status.
func (e *Emulator) FailNext(n, status int) { e.AddFault(Fault{Status: status, Count: n}) }

// ClearFaults removes every fault.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	e.faults = nil
	e.mu.Unlock()
}

// takeFault returns the status of the first fault matching, consuming one
// count, or 0.
func (e *Emulator) takeFault(host, path, grant string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, f := range e.faults {
		if f.Host != "" && !equalFold(f.Host, host) {
			continue
		}
		if f.PathContains != "" && !strings.Contains(path, f.PathContains) {
			continue
		}
		if f.GrantType != "" && f.GrantType != grant {
			continue
		}
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				e.faults = append(e.faults[:i], e.faults[i+1:]...)
			}
		}
		return f.Status
	}
	return 0
}

// IssuedToken describes an access token the emulator issued.
type IssuedToken struct {
	Audience string
	TenantID string
	ObjectID string
	Expires  time.Time
}

// Issued reports whether accessToken was issued by this emulator, and for
// whom.
func (e *Emulator) Issued(accessToken string) (IssuedToken, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	it, ok := e.state.issued[fingerprint(accessToken)]
	return IssuedToken(it), ok
}

// RefreshTokenLive reports whether the token endpoint would accept the
// refresh token rt now (issued here, not revoked; in strict mode, not yet
// redeemed).
func (e *Emulator) RefreshTokenLive(rt string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.state.refresh[rt]
	return ok && e.refreshProblemLocked(g) == nil
}

// LiveRefreshTokens counts refresh tokens that would still be accepted
// (not revoked; in strict mode, not yet redeemed).
func (e *Emulator) LiveRefreshTokens() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, g := range e.state.refresh {
		if e.refreshProblemLocked(g) == nil {
			n++
		}
	}
	return n
}
