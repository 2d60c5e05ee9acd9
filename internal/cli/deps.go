package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

// --- output ---------------------------------------------------------------

// outputFlag adds --output table|json to cmd.
func outputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", "table", "output format: table or json (stable fields, see --help)")
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return &usageError{hint.New(fmt.Errorf("unknown output format %q", o), "use --output table or --output json")}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// IntegrationView is the stable JSON shape of an integration
// (`azkeep integration list --output json`).
type IntegrationView struct {
	ID       string `json:"id"`
	Alias    string `json:"alias"`
	Tenant   string `json:"tenant"`
	TenantID string `json:"tenant_id,omitempty"`
	Location string `json:"location,omitempty"`
	Cloud    string `json:"cloud"`
	// Status is online, offline or needs-login.
	Status   string `json:"status"`
	Username string `json:"username,omitempty"`
	Sessions int    `json:"sessions"`
}

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

func integrationView(st *workspace.State, in *workspace.Integration) IntegrationView {
	return IntegrationView{
		ID: in.ID, Alias: in.Alias, Tenant: in.Tenant, TenantID: in.TenantID, Location: in.Location,
		Cloud: in.Cloud.Name, Status: string(in.Status), Username: in.Username, Sessions: len(st.SessionsOf(in.ID)),
	}
}

func sessionView(st *workspace.State, s *workspace.Session) SessionView {
	alias := ""
	if in := st.IntegrationByID(s.IntegrationID); in != nil {
		alias = in.Alias
	}
	return sessionViewWith(s, alias)
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
// views: 1.6 MB for 10,000).
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
	lastID, lastAlias := "", "" // sessions come grouped by integration
	return sessionRows{n: n, view: func(i int) SessionView {
		if idx != nil {
			i = idx[i]
		}
		s := &st.Sessions[i]
		if s.IntegrationID != lastID || lastID == "" {
			lastID, lastAlias = s.IntegrationID, alias[s.IntegrationID]
		}
		return sessionViewWith(s, lastAlias)
	}}
}

func sessionViewWith(s *workspace.Session, alias string) SessionView {
	return SessionView{
		ID: s.ID, SubscriptionID: s.SubscriptionID, SubscriptionName: s.SubscriptionName, TenantID: s.TenantID,
		IntegrationID: s.IntegrationID, Integration: alias, Status: string(s.Status), ConfigDir: s.ConfigDir,
		StartedAt: rfc3339(s.StartedAt), ExpiresAt: rfc3339(s.ExpiresAt),
	}
}

func printSessions(w io.Writer, output string, views []SessionView) error {
	return printSessionRows(w, output, rowsOf(views))
}

func printSessionRows(w io.Writer, output string, rows sessionRows) error {
	if output == "json" {
		return writeSessionsJSON(w, rows)
	}
	if plainCells(rows) {
		return writeSessionsTable(w, rows)
	}
	// A control character would be a cell or line break to the tabwriter;
	// keep its behaviour for those rare names.
	bw := bufio.NewWriterSize(w, 64<<10)
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

// chunks collects output in one small buffer written out whenever it fills:
// a list of 10,000 sessions (3.8 MB of JSON) then costs 64 KB of memory and
// about 60 write calls, instead of a 3.8 MB buffer the kernel must fault in.
type chunks struct {
	w   io.Writer
	b   []byte
	err error
}

const chunkSize = 64 << 10

func newChunks(w io.Writer) *chunks { return &chunks{w: w, b: make([]byte, 0, chunkSize)} }

// spill writes the buffer out once it is nearly full.
func (c *chunks) spill() {
	if len(c.b) >= chunkSize-4<<10 {
		c.flush()
	}
}

func (c *chunks) flush() error {
	if c.err == nil && len(c.b) > 0 {
		_, c.err = c.w.Write(c.b)
	}
	c.b = c.b[:0]
	return c.err
}

// writeSessionsJSON writes exactly what writeJSON writes for views (the
// same indentation, escaping and omitted fields; the tests compare them),
// without encoding/json's reflection and second indenting pass, which cost
// tens of milliseconds over 10,000 sessions.
func writeSessionsJSON(w io.Writer, rows sessionRows) error {
	c := newChunks(w)
	if rows.n == 0 {
		c.b = append(c.b, "[]\n"...)
		return c.flush()
	}
	c.b = append(c.b, "[\n"...)
	for i := 0; i < rows.n; i++ {
		v := rows.view(i)
		b := append(c.b, "  {\n"...)
		b = appendField(b, "id", v.ID, false)
		b = appendField(b, "subscription_id", v.SubscriptionID, false)
		b = appendField(b, "subscription_name", v.SubscriptionName, false)
		b = appendField(b, "tenant_id", v.TenantID, false)
		b = appendField(b, "integration_id", v.IntegrationID, false)
		b = appendField(b, "integration", v.Integration, false)
		b = appendField(b, "status", v.Status, false)
		b = appendField(b, "config_dir", v.ConfigDir, true)
		b = appendField(b, "started_at", v.StartedAt, true)
		b = appendField(b, "expires_at", v.ExpiresAt, true)
		b = b[:len(b)-2] // the last field's ",\n"
		b = append(b, "\n  }"...)
		if i < rows.n-1 {
			b = append(b, ',')
		}
		c.b = append(b, '\n')
		c.spill()
	}
	c.b = append(c.b, "]\n"...)
	return c.flush()
}

func appendField(b []byte, name, value string, omitEmpty bool) []byte {
	if omitEmpty && value == "" {
		return b
	}
	b = append(b, "    \""...)
	b = append(b, name...)
	b = append(b, "\": "...)
	b = appendJSONString(b, value)
	return append(b, ",\n"...)
}

// plainJSON marks the bytes encoding/json writes unescaped: printable
// ASCII but for the quote, the backslash and its HTML-safe <, > and &.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString quotes s as encoding/json does: strings of plain
// printable ASCII directly, anything else through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

var sessionHeader = [6]string{"SESSION", "SUBSCRIPTION", "SUBSCRIPTION ID", "INTEGRATION", "STATUS", "EXPIRES"}

func sessionCells(v *SessionView) [6]string {
	return [6]string{v.ID, v.SubscriptionName, v.SubscriptionID, v.Integration, v.Status, expiresCell(*v)}
}

func expiresCell(v SessionView) string {
	if v.ExpiresAt == "" {
		return "-"
	}
	return v.ExpiresAt
}

// plainCells says whether no cell of the session table holds a control
// character, which the tabwriter would treat as a cell or line break.
func plainCells(rows sessionRows) bool {
	for i := 0; i < rows.n; i++ {
		v := rows.view(i)
		for _, cell := range sessionCells(&v) {
			for j := 0; j < len(cell); j++ {
				if cell[j] < 0x20 || cell[j] == 0x7f {
					return false
				}
			}
		}
	}
	return true
}

// writeSessionsTable writes what newTable writes for the session table
// (the tests compare them): every column but the last padded to its widest
// cell (in runes) plus two spaces. The cells must be plain (plainCells).
func writeSessionsTable(w io.Writer, rows sessionRows) error {
	var width [5]int
	measure := func(cells [6]string) {
		for c := range width {
			width[c] = max(width[c], utf8.RuneCountInString(cells[c]))
		}
	}
	measure(sessionHeader)
	for i := 0; i < rows.n; i++ {
		v := rows.view(i)
		measure(sessionCells(&v))
	}
	c := newChunks(w)
	row := func(cells [6]string) {
		for i, cell := range cells {
			c.b = append(c.b, cell...)
			if i < 5 {
				for n := width[i] + 2 - utf8.RuneCountInString(cell); n > 0; n-- {
					c.b = append(c.b, ' ')
				}
			}
		}
		c.b = append(c.b, '\n')
		c.spill()
	}
	row(sessionHeader)
	for i := 0; i < rows.n; i++ {
		v := rows.view(i)
		row(sessionCells(&v))
	}
	return c.flush()
}
