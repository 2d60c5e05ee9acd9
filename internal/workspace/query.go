package workspace

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/azkeep/azkeep/internal/hint"
)

// ErrNotFound is wrapped by the errors of the lookups below.
var ErrNotFound = errors.New("not found")

// AmbiguousError is returned when a name matches more than one session or
// integration; Candidates lists them.
type AmbiguousError struct {
	What       string // "session" or "integration"
	Query      string
	Candidates []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%q matches %d %ss: %s", e.Query, len(e.Candidates), e.What, strings.Join(e.Candidates, "; "))
}

func normGUID(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CleanDir makes config dirs comparable: absolute and clean.
func CleanDir(dir string) string {
	if dir == "" {
		return ""
	}
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return filepath.Clean(dir)
}

// Integration returns the integration whose alias or id is name.
func (st *State) Integration(name string) (*Integration, error) {
	for i := range st.Integrations {
		if st.Integrations[i].ID == name {
			return &st.Integrations[i], nil
		}
	}
	var found []*Integration
	for i := range st.Integrations {
		if strings.EqualFold(st.Integrations[i].Alias, name) {
			found = append(found, &st.Integrations[i])
		}
	}
	switch len(found) {
	case 0:
		aliases := make([]string, len(st.Integrations))
		for i := range st.Integrations {
			aliases[i] = st.Integrations[i].Alias
		}
		return nil, hint.New(fmt.Errorf("integration %q: %w", name, ErrNotFound), didYouMean(name, aliases, "list them with azkeep integration list"))
	case 1:
		return found[0], nil
	}
	c := make([]string, len(found))
	for i, in := range found {
		c[i] = in.Alias + " (id " + in.ID + ")"
	}
	return nil, hint.New(&AmbiguousError{What: "integration", Query: name, Candidates: c}, "use the integration id")
}

// IntegrationByID returns the integration with id, or nil.
func (st *State) IntegrationByID(id string) *Integration {
	for i := range st.Integrations {
		if st.Integrations[i].ID == id {
			return &st.Integrations[i]
		}
	}
	return nil
}

// SessionByID returns the session with id, or nil.
func (st *State) SessionByID(id string) *Session {
	for i := range st.Sessions {
		if st.Sessions[i].ID == id {
			return &st.Sessions[i]
		}
	}
	return nil
}

// Session resolves query to one session: a session id, a subscription id
// (any case), or a subscription name (exact first, then ignoring case). A
// query matching several sessions is an error listing them.
func (st *State) Session(query string) (*Session, error) {
	q := strings.TrimSpace(query)
	if q == "" {
		return nil, hint.New(errors.New("no session given"), "name one: a subscription name, subscription id or session id (azkeep session list)")
	}
	if s := st.SessionByID(q); s != nil {
		return s, nil
	}
	var hits []int
	lq := normGUID(q)
	for i := range st.Sessions {
		if normGUID(st.Sessions[i].SubscriptionID) == lq {
			hits = append(hits, i)
		}
	}
	if len(hits) == 0 {
		for i := range st.Sessions {
			if st.Sessions[i].SubscriptionName == q {
				hits = append(hits, i)
			}
		}
	}
	if len(hits) == 0 {
		for i := range st.Sessions {
			if strings.EqualFold(st.Sessions[i].SubscriptionName, q) {
				hits = append(hits, i)
			}
		}
	}
	switch len(hits) {
	case 0:
		names := make([]string, len(st.Sessions))
		for i := range st.Sessions {
			names[i] = st.Sessions[i].SubscriptionName
		}
		return nil, hint.New(fmt.Errorf("session %q: %w", q, ErrNotFound), didYouMean(q, names, "list sessions with azkeep session list"))
	case 1:
		return &st.Sessions[hits[0]], nil
	}
	c := make([]string, len(hits))
	for i, h := range hits {
		s := st.Sessions[h]
		alias := s.IntegrationID
		if in := st.IntegrationByID(s.IntegrationID); in != nil {
			alias = in.Alias
		}
		c[i] = fmt.Sprintf("%s (subscription %s, integration %s)", s.ID, s.SubscriptionID, alias)
	}
	sort.Strings(c)
	return nil, hint.New(&AmbiguousError{What: "session", Query: q, Candidates: c}, "use the session id")
}

// ActiveIn returns the session active in configDir, or nil.
func (st *State) ActiveIn(configDir string) *Session {
	dir := CleanDir(configDir)
	for i := range st.Sessions {
		s := &st.Sessions[i]
		if s.Status == Active && s.ConfigDir == dir {
			return s
		}
	}
	return nil
}

// SessionsOf returns the sessions of one integration, in file order.
func (st *State) SessionsOf(integrationID string) []*Session {
	var out []*Session
	for i := range st.Sessions {
		if st.Sessions[i].IntegrationID == integrationID {
			out = append(out, &st.Sessions[i])
		}
	}
	return out
}

// RemoveSessions drops every session for which drop returns true.
func (st *State) RemoveSessions(drop func(*Session) bool) {
	kept := st.Sessions[:0]
	for i := range st.Sessions {
		if !drop(&st.Sessions[i]) {
			kept = append(kept, st.Sessions[i])
		}
	}
	st.Sessions = kept
}

// RemoveIntegration drops the integration with id and its sessions.
func (st *State) RemoveIntegration(id string) {
	kept := st.Integrations[:0]
	for _, in := range st.Integrations {
		if in.ID != id {
			kept = append(kept, in)
		}
	}
	st.Integrations = kept
	st.RemoveSessions(func(s *Session) bool { return s.IntegrationID == id })
}

// Subscription is what a login learnt about one subscription.
type Subscription struct {
	ID       string
	Name     string
	TenantID string
}

// SyncResult says what SyncSessions changed.
type SyncResult struct {
	Added, Renamed, Kept []string // session ids
	// Removed are the sessions dropped; those that were active carry
	// their ConfigDir so the caller can stop them there.
	Removed []Session
}

// SyncSessions makes the integration's sessions match subs (seed, login
// step 3): a new subscription adds a session, a vanished one removes its
// session, a renamed one keeps its session id and status.
func (st *State) SyncSessions(integrationID string, subs []Subscription) SyncResult {
	var res SyncResult
	want := make(map[string]Subscription, len(subs))
	for _, s := range subs {
		want[SessionID(integrationID, s.ID)] = s
	}
	seen := map[string]bool{}
	st.RemoveSessions(func(s *Session) bool {
		if s.IntegrationID != integrationID {
			return false
		}
		sub, ok := want[s.ID]
		if !ok {
			res.Removed = append(res.Removed, *s)
			return true
		}
		seen[s.ID] = true
		if s.SubscriptionName != sub.Name {
			s.SubscriptionName = sub.Name
			res.Renamed = append(res.Renamed, s.ID)
		} else {
			res.Kept = append(res.Kept, s.ID)
		}
		if sub.TenantID != "" {
			s.TenantID = sub.TenantID
		}
		return false
	})
	for _, sub := range subs {
		id := SessionID(integrationID, sub.ID)
		if seen[id] {
			continue
		}
		seen[id] = true
		st.Sessions = append(st.Sessions, Session{
			ID:               id,
			SubscriptionID:   normGUID(sub.ID),
			SubscriptionName: sub.Name,
			TenantID:         sub.TenantID,
			IntegrationID:    integrationID,
			Status:           Inactive,
		})
		res.Added = append(res.Added, id)
	}
	return res
}
