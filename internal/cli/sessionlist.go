package cli

import (
	"bufio"
	"fmt"
	"io"

	"github.com/azkeep/azkeep/internal/workspace"
)

// SessionView is the stable JSON shape of a session
// (`azkeep session list|current --output json`).
type SessionView struct {
	ID               string `json:"id"`
	SubscriptionID   string `json:"subscription_id"`
	SubscriptionName string `json:"subscription_name"`
	TenantID         string `json:"tenant_id"`
	IntegrationID    string `json:"integration_id"`
	Integration      string `json:"integration"`
	// Status is inactive, pending or active.
	Status    string `json:"status"`
	ConfigDir string `json:"config_dir,omitempty"`
	// StartedAt and ExpiresAt are RFC 3339 in UTC, omitted when unset.
	StartedAt string `json:"started_at,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

func sessionView(st *workspace.State, s *workspace.Session) SessionView {
	alias := ""
	if in := st.IntegrationByID(s.IntegrationID); in != nil {
		alias = in.Alias
	}
	return sessionViewWith(s, alias)
}

func sessionViewWith(s *workspace.Session, alias string) SessionView {
	return SessionView{
		ID: s.ID, SubscriptionID: s.SubscriptionID, SubscriptionName: s.SubscriptionName, TenantID: s.TenantID,
		IntegrationID: s.IntegrationID, Integration: alias, Status: string(s.Status), ConfigDir: s.ConfigDir,
		StartedAt: rfc3339(s.StartedAt), ExpiresAt: rfc3339(s.ExpiresAt),
	}
}

// sessionViews makes the views of many sessions (keep nil: all).
func sessionViews(st *workspace.State, keep func(*workspace.Session) bool) []SessionView {
	r := sessionRowsOf(st, keep)
	views := make([]SessionView, r.n)
	for i := range views {
		views[i] = r.view(i)
	}
	return views
}

// sessionRows is a list of session views made one at a time as they are
// written, so that a long list is not held twice (as sessions and as
// views).
type sessionRows struct {
	n    int
	view func(i int) SessionView
}

func rowsOf(views []SessionView) sessionRows {
	return sessionRows{n: len(views), view: func(i int) SessionView { return views[i] }}
}

// sessionRowsOf is the rows of st's sessions for which keep is true (nil:
// all), each integration's alias looked up in a map built once.
func sessionRowsOf(st *workspace.State, keep func(*workspace.Session) bool) sessionRows {
	alias := make(map[string]string, len(st.Integrations))
	for i := range st.Integrations {
		alias[st.Integrations[i].ID] = st.Integrations[i].Alias
	}
	var idx []int
	n := len(st.Sessions)
	if keep != nil {
		for i := range st.Sessions {
			if keep(&st.Sessions[i]) {
				idx = append(idx, i)
			}
		}
		n = len(idx)
	}
	return sessionRows{n: n, view: func(i int) SessionView {
		if idx != nil {
			i = idx[i]
		}
		s := &st.Sessions[i]
		return sessionViewWith(s, alias[s.IntegrationID])
	}}
}

func printSessions(w io.Writer, output string, views []SessionView) error {
	return printSessionRows(w, output, rowsOf(views))
}

// printSessionRows writes the session list as a table or as JSON: what
// newTable and writeJSON write for the views, through the writers of
// sessionlist_writer.go.
func printSessionRows(w io.Writer, output string, rows sessionRows) error {
	if output == "json" {
		return writeSessionsJSON(w, rows)
	}
	if done, err := writeSessionsTable(w, rows); done || err != nil {
		return err
	}
	// A control character would be a cell or line break to the tabwriter;
	// keep its behaviour for those rare names.
	bw := bufio.NewWriter(w)
	tw := newTable(bw)
	fmt.Fprintln(tw, "SESSION\tSUBSCRIPTION\tSUBSCRIPTION ID\tINTEGRATION\tSTATUS\tEXPIRES")
	for i := 0; i < rows.n; i++ {
		v := rows.view(i)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.SubscriptionName, v.SubscriptionID, v.Integration, v.Status, expiresCell(v))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}
