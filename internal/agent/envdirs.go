package agent

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/workspace"
)

// EnvItemPrefix starts the item ids of EnvDirSource: "env:<session-id>",
// apart from the ids of the target dir's sessions.
const EnvItemPrefix = "env:"

// EnvDirSource is the agent's view of the persistent dirs of azkeep env
// (sessiondir.PersistentDir): each is an item due at its token's expiry −
// window, renewed by Materialize into the same dir.
type EnvDirSource struct {
	M    *lifecycle.Manager
	Home string
	// Materialize writes session query into dir with a fresh access token
	// and returns its expiry; it must leave no refresh token in dir.
	Materialize sessiondir.MaterializeFunc
}

func (s EnvDirSource) window() time.Duration {
	if s.M.Window > 0 {
		return s.M.Window
	}
	return lifecycle.DefaultWindow
}

// PruneEnvDirs removes the persistent dirs whose session is gone (deleted
// integration, re-sync) or whose integration is logged out: their access
// tokens must not outlive the logout. It returns the dirs removed.
func PruneEnvDirs(st *workspace.State, home string) []string {
	dirs, _ := sessiondir.ListPersistent(home)
	var removed []string
	for _, p := range dirs {
		sess := st.SessionByID(p.SessionID)
		if sess != nil {
			if in := st.IntegrationByID(sess.IntegrationID); in != nil && in.Status != workspace.Offline {
				continue
			}
		}
		if os.RemoveAll(p.Dir) == nil {
			removed = append(removed, p.Dir)
		}
	}
	return removed
}

// Plan lists the persistent dirs whose session still exists (and prunes
// the others).
func (s EnvDirSource) Plan(ctx context.Context) ([]Item, error) {
	st, err := s.M.WS.Load()
	if err != nil {
		return nil, err
	}
	PruneEnvDirs(st, s.Home)
	dirs, err := sessiondir.ListPersistent(s.Home)
	if err != nil || len(dirs) == 0 {
		return nil, err
	}
	var items []Item
	for _, p := range dirs {
		sess := st.SessionByID(p.SessionID)
		if sess == nil {
			continue // session gone (logout, delete, re-sync): nothing to renew
		}
		it := Item{
			ID:    EnvItemPrefix + p.SessionID,
			Label: sess.SubscriptionName + " (" + p.Dir + ")",
			Due:   p.ExpiresAt.Add(-s.window()),
		}
		it.setIntegration(st, sess.IntegrationID)
		items = append(items, it)
	}
	return items, nil
}

// Rotate renews one persistent dir if it is due.
func (s EnvDirSource) Rotate(ctx context.Context, id string) (time.Time, error) {
	dir := sessiondir.PersistentDir(s.Home, strings.TrimPrefix(id, EnvItemPrefix))
	now := time.Now()
	if s.M.Now != nil {
		now = s.M.Now()
	}
	exp, err := sessiondir.Refresh(ctx, dir, s.window(), now, s.Materialize)
	if err != nil {
		return time.Time{}, err
	}
	return exp.Add(-s.window()), nil
}

// multiSource drives the target dir's sessions and the env dirs together.
type multiSource struct {
	target Source
	env    EnvDirSource
}

// WithEnvDirs adds the persistent dirs of azkeep env to the agent's source:
// New(WithEnvDirs(LifecycleSource{M: m}, EnvDirSource{…}), …).
func WithEnvDirs(target Source, env EnvDirSource) Source {
	return multiSource{target: target, env: env}
}

func (s multiSource) Plan(ctx context.Context) ([]Item, error) {
	items, err := s.target.Plan(ctx)
	if err != nil {
		return nil, err
	}
	env, err := s.env.Plan(ctx)
	return append(items, env...), err
}

func (s multiSource) Rotate(ctx context.Context, id string) (time.Time, error) {
	if strings.HasPrefix(id, EnvItemPrefix) {
		return s.env.Rotate(ctx, id)
	}
	return s.target.Rotate(ctx, id)
}
