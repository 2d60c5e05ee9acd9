package agent

import (
	"context"
	"time"

	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/workspace"
)

// LifecycleSource is the real Source: the active sessions of the state
// file, rotated by the lifecycle's Rotate (which takes the lifecycle lock,
// re-checks the window and marks an integration needs-login itself).
type LifecycleSource struct {
	M *lifecycle.Manager
}

// Plan lists every active session (the target dir's and per-session dirs).
func (l LifecycleSource) Plan(ctx context.Context) ([]Item, error) {
	st, err := l.M.WS.Load()
	if err != nil {
		return nil, err
	}
	var items []Item
	for i := range st.Sessions {
		s := &st.Sessions[i]
		if s.Status != workspace.Active || s.ConfigDir == "" {
			continue
		}
		it := Item{
			ID:    s.ID,
			Label: s.SubscriptionName + " (" + s.ConfigDir + ")",
			Due:   l.M.NextRotation(s),
		}
		it.setIntegration(st, s.IntegrationID)
		items = append(items, it)
	}
	return items, nil
}

// Rotate rotates session id when it is inside the window.
func (l LifecycleSource) Rotate(ctx context.Context, id string) (time.Time, error) {
	r, err := l.M.Rotate(ctx, id, false)
	if err != nil {
		return time.Time{}, err
	}
	return r.NextRotation, nil
}

// setIntegration names the item's integration and whether it needs a new
// login.
func (it *Item) setIntegration(st *workspace.State, integrationID string) {
	if in := st.IntegrationByID(integrationID); in != nil {
		it.Integration, it.IntegrationAlias = in.ID, in.Alias
		it.NeedsLogin = in.Status == workspace.NeedsLogin
	}
}
