package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/tui"
	"github.com/azkeep/azkeep/internal/workspace"
)

// oneArgOrPick is cobra.ExactArgs(1), except on a terminal, where a
// missing argument is picked (see sessionArg and integrationArg). Without
// a terminal the error is the one it always was.
func oneArgOrPick(f *Factory) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 && f.Interactive() {
			return nil
		}
		return cobra.ExactArgs(1)(cmd, args)
	}
}

// sessionArg is args[0], or the session the user picks (its id).
func (f *Factory) sessionArg(args []string, title string) (string, error) {
	if len(args) > 0 {
		return args[0], nil
	}
	st, err := f.pickState()
	if err != nil {
		return "", err
	}
	items := sessionItems(st, time.Now())
	if len(items) == 0 {
		return "", hint.New(errors.New("there is no session to pick"), "log in first: azkeep integration login NAME")
	}
	return f.pick(title, items)
}

// integrationArg is args[0], or the integration the user picks (its id).
func (f *Factory) integrationArg(args []string, title string) (string, error) {
	if len(args) > 0 {
		return args[0], nil
	}
	st, err := f.pickState()
	if err != nil {
		return "", err
	}
	items := make([]tui.Item, 0, len(st.Integrations))
	for _, in := range st.Integrations {
		items = append(items, tui.Item{Title: in.Alias, Detail: fmt.Sprintf("%s  %s", in.Tenant, in.Status), Value: in.ID})
	}
	if len(items) == 0 {
		return "", hint.New(errors.New("there is no integration to pick"), "add one: azkeep integration create --alias NAME --tenant TENANT")
	}
	return f.pick(title, items)
}

// pickState is the state a picker lists: read as it is, the command's own
// lazy rotation comes after the pick.
func (f *Factory) pickState() (*workspace.State, error) {
	ws, err := f.Workspace()
	if err != nil {
		return nil, err
	}
	return ws.Load()
}

func (f *Factory) pick(title string, items []tui.Item) (string, error) {
	v, err := f.Pick(title, items)
	if errors.Is(err, tui.ErrCancelled) {
		return "", errors.New("cancelled: nothing picked")
	}
	return v, err
}

// sessionItems are the picker's lines for st's sessions: the integration
// and subscription, then the status and an active session's time left.
func sessionItems(st *workspace.State, now time.Time) []tui.Item {
	alias := make(map[string]string, len(st.Integrations))
	for _, in := range st.Integrations {
		alias[in.ID] = in.Alias
	}
	items := make([]tui.Item, 0, len(st.Sessions))
	for _, s := range st.Sessions {
		detail := string(s.Status)
		if s.Status == workspace.Active {
			detail += " " + tui.TimeLeft(s.ExpiresAt, now)
		}
		items = append(items, tui.Item{Title: alias[s.IntegrationID] + "/" + s.SubscriptionName, Detail: detail, Value: s.ID})
	}
	return items
}
