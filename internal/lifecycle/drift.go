package lifecycle

import (
	"context"
	"fmt"
	"strings"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

// defaultSubscription is the subscription azureProfile.json in dir marks as
// default ("" when none, or the file cannot be read).
func defaultSubscription(dir string) string {
	p, err := azconfig.LoadProfile(dir)
	if err != nil {
		return ""
	}
	for _, s := range p.Subscriptions {
		if s.IsDefault {
			return s.ID
		}
	}
	return ""
}

// followDefault notices an `az account set` in the dir active session s
// lives in: when az's default subscription there is no longer s's, and it
// is a session of the same integration, that session becomes the dir's
// active one (its tenant's token is fetched by the next rotation if the
// tenant differs) and is returned; otherwise a warning says the next
// rotation will put s's subscription back, and s is returned. The caller
// holds the procedures' lock.
func (m *Manager) followDefault(ctx context.Context, st *workspace.State, s *workspace.Session) (*workspace.Session, error) {
	if s.Status != workspace.Active || s.ConfigDir == "" {
		return s, nil
	}
	def := defaultSubscription(s.ConfigDir)
	if def == "" || strings.EqualFold(def, s.SubscriptionID) {
		return s, nil
	}
	var next *workspace.Session
	for _, x := range st.SessionsOf(s.IntegrationID) {
		if strings.EqualFold(x.SubscriptionID, def) {
			next = x
		}
	}
	if next == nil {
		in := st.IntegrationByID(s.IntegrationID)
		alias := s.IntegrationID
		if in != nil {
			alias = in.Alias
		}
		err := hint.New(fmt.Errorf("az's default subscription in %s is %s, which is no session of integration %q; the next rotation puts %s (%s) back", s.ConfigDir, def, alias, s.SubscriptionName, s.SubscriptionID),
			"run azkeep integration sync "+alias+" to add it as a session, then azkeep session start "+def)
		fmt.Fprintf(m.errOut(), "azkeep: warning: %s\n", err)
		fmt.Fprintf(m.errOut(), "azkeep: hint: %s\n", hint.Of(err))
		return s, nil
	}
	var out workspace.Session
	err := m.WS.Update(ctx, func(st *workspace.State) error {
		old, x := st.SessionByID(s.ID), st.SessionByID(next.ID)
		if old == nil || x == nil {
			return fmt.Errorf("session %s vanished", next.ID)
		}
		x.Status, x.ConfigDir, x.StartedAt, x.ExpiresAt = workspace.Active, old.ConfigDir, m.now().UTC(), old.ExpiresAt
		if !strings.EqualFold(x.TenantID, old.TenantID) {
			// The dir holds the other tenant's token: rotate now.
			x.ExpiresAt = m.now().UTC()
		}
		markInactive(old)
		out = *x
		return nil
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(m.errOut(), "azkeep: az account set chose %s (%s) in %s: session %s is now the active one there\n", out.SubscriptionName, out.SubscriptionID, out.ConfigDir, out.ID)
	return &out, nil
}

// FollowDefaults runs followDefault on every active session whose dir's
// default subscription changed; every command (LazyRotate) and the agent
// (Rotate) call it, so an `az account set` is never silently undone. It
// reports whether any had changed (the state may then have changed).
func (m *Manager) FollowDefaults(ctx context.Context, st *workspace.State) (bool, error) {
	var drifted []string
	for _, s := range st.Sessions {
		if s.Status == workspace.Active && s.ConfigDir != "" {
			if def := defaultSubscription(s.ConfigDir); def != "" && !strings.EqualFold(def, s.SubscriptionID) {
				drifted = append(drifted, s.ID)
			}
		}
	}
	if len(drifted) == 0 {
		return false, nil
	}
	ctx, st, unlock, err := m.lockState(ctx)
	if err != nil {
		return true, err
	}
	defer unlock()
	for _, id := range drifted {
		if s := st.SessionByID(id); s != nil {
			if _, err := m.followDefault(ctx, st, s); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}
