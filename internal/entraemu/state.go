package entraemu

import (
	"fmt"
	"strings"
	"time"
)

// tokenState is what the token endpoint remembers. Guarded by Emulator.mu.
type tokenState struct {
	refresh     map[string]*refreshGrant // by token
	devices     map[string]*deviceFlow   // by device code
	authCodes   map[string]*authCode     // by authorization code
	issued      map[string]issuedToken   // access tokens by fingerprint
	validFrom   map[string]time.Time     // username → refresh tokens issued before are revoked
	interaction map[string]bool          // username → interaction_required
	deviceUser  string                   // device codes are approved as this user when set
}

func (s *tokenState) init() {
	s.refresh = map[string]*refreshGrant{}
	s.devices = map[string]*deviceFlow{}
	s.authCodes = map[string]*authCode{}
	s.issued = map[string]issuedToken{}
	s.validFrom = map[string]time.Time{}
	s.interaction = map[string]bool{}
}

type refreshGrant struct {
	username string // user's UPN, lower case
	tenantID string // the tenant it was issued for
	clientID string
	issued   time.Time
	redeemed bool
}

type deviceFlow struct {
	tenant   string // the path segment
	clientID string
	scope    string
	expires  time.Time
	polls    int
	done     bool
}

// authCode is an authorization code handed to a browser login's redirect.
type authCode struct {
	username    string
	tenant      string // the path segment
	clientID    string
	redirectURI string
	challenge   string // PKCE S256 code_challenge ("" if none was sent)
	method      string
	nonce       string
	expires     time.Time
	used        bool
}

type issuedToken struct {
	Audience string
	TenantID string
	ObjectID string
	Expires  time.Time
}

// populate builds the configured tenants, users, service principals and
// subscriptions.
func (e *Emulator) populate() {
	for t := 1; t <= e.cfg.Tenants; t++ {
		tn := &Tenant{
			ID:          e.rnd.uuid(),
			Domain:      fmt.Sprintf("azkeepemu%d.onmicrosoft.com", t),
			DisplayName: fmt.Sprintf("Emulated Tenant %d", t),
		}
		for u := 1; u <= e.cfg.UsersPerTenant; u++ {
			tn.Users = append(tn.Users, User{
				Username:    fmt.Sprintf("user%d@%s", u, tn.Domain),
				Password:    e.rnd.password(),
				ObjectID:    e.rnd.uuid(),
				DisplayName: fmt.Sprintf("Emulated User %d", u),
			})
		}
		tn.ServicePrincipals = append(tn.ServicePrincipals, ServicePrincipal{
			AppID:    e.rnd.uuid(),
			Secret:   e.rnd.secret(),
			ObjectID: e.rnd.uuid(),
		})
		for s := 1; s <= e.cfg.SubscriptionsPerTenant; s++ {
			tn.Subscriptions = append(tn.Subscriptions, Subscription{
				ID:       e.rnd.uuid(),
				Name:     fmt.Sprintf("Emulated Subscription %d-%d", t, s),
				State:    "Enabled",
				TenantID: tn.ID,
			})
		}
		e.tenants = append(e.tenants, tn)
	}
}

// findTenant resolves a tenant path segment (id or domain). Caller holds mu.
func (e *Emulator) findTenant(seg string) *Tenant {
	for _, t := range e.tenants {
		if equalFold(t.ID, seg) || equalFold(t.Domain, seg) {
			return t
		}
	}
	return nil
}

// findUser returns a user and its tenant by username. Caller holds mu.
func (e *Emulator) findUser(username string) (*User, *Tenant) {
	for _, t := range e.tenants {
		for i := range t.Users {
			if equalFold(t.Users[i].Username, username) {
				return &t.Users[i], t
			}
		}
	}
	return nil, nil
}

// interactiveUser is who signs in to an interactive flow (browser code or
// device code) at tenant pt (nil: "organizations" or "common"): the
// ApproveDeviceCodesAs user when set, else the tenant's first user, else
// the first tenant's first user. Nil when there is none. Caller holds mu.
func (e *Emulator) interactiveUser(pt *Tenant) (*User, *Tenant) {
	switch {
	case e.state.deviceUser != "":
		return e.findUser(e.state.deviceUser)
	case pt != nil && len(pt.Users) > 0:
		return &pt.Users[0], pt
	case pt == nil && len(e.tenants) > 0 && len(e.tenants[0].Users) > 0:
		return &e.tenants[0].Users[0], e.tenants[0]
	}
	return nil, nil
}

// memberOf lists the tenants a user (by object id) belongs to: home
// first, then those it is a guest of. Caller holds mu.
func (e *Emulator) memberOf(objectID string) []*Tenant {
	var home *Tenant
	var username string
	for _, t := range e.tenants {
		for _, u := range t.Users {
			if equalFold(u.ObjectID, objectID) {
				home, username = t, u.Username
			}
		}
	}
	if home == nil {
		return nil
	}
	out := []*Tenant{home}
	for _, t := range e.tenants {
		for _, g := range t.Guests {
			if t != home && equalFold(g, username) {
				out = append(out, t)
			}
		}
	}
	return out
}

// findSP returns a service principal and its tenant by app id. Caller holds mu.
func (e *Emulator) findSP(appID string) (*ServicePrincipal, *Tenant) {
	for _, t := range e.tenants {
		for i := range t.ServicePrincipals {
			if equalFold(t.ServicePrincipals[i].AppID, appID) {
				return &t.ServicePrincipals[i], t
			}
		}
	}
	return nil, nil
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
