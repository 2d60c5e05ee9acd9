package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// deps are the lifecycle's dependencies, built from the globals. The vault,
// the az runner and the engine are opened on first use: lazy rotation runs
// before every command and must cost one state-file read when nothing is
// due (no keyring unlock, no passphrase prompt, no `az` lookup).
type deps struct {
	g     *Globals
	ws    *workspace.Workspace
	vault *lazyVault
	az    *lazyRunner
	eng   *lazyEngine

	runnerOnce sync.Once
	runner     *azcli.Runner

	// state is the state lazy rotation loaded, when nothing was due: the
	// command reuses it instead of reading the file a second time (a
	// 10,000-session file costs tens of milliseconds to decode).
	state *workspace.State
}

// newDeps opens the workspace and prepares the rest lazily.
func newDeps(g *Globals) (*deps, error) {
	ws, err := workspace.Open(g.Home)
	if err != nil {
		return nil, err
	}
	d := &deps{g: g, ws: ws}
	d.vault = &lazyVault{lazy: lazy[vault.Store]{open: func() (vault.Store, error) {
		// vaultOptions (vault.go): passphrase from AZKEEP_VAULT_PASSPHRASE
		// or a prompt, call bound from AZKEEP_VAULT_TIMEOUT.
		opts, err := vaultOptions(g)
		if err != nil {
			return nil, err
		}
		return vault.Open(g.Vault, opts)
	}}, name: vault.Resolve(g.Vault, g.Home)}
	d.az = &lazyRunner{lazy[lifecycle.Runner]{open: func() (lifecycle.Runner, error) { return azLogin{d.azRunner()}, nil }}}
	d.eng = &lazyEngine{name: g.Engine, lazy: lazy[engine.Engine]{open: func() (engine.Engine, error) {
		return newEngine(g.Engine, d.azRunner(), stagingDir(ws))
	}}}
	return d, nil
}

// azRunner is the one az runner of this command: az from AZKEEP_AZ or
// PATH, the process environment, a passed version check remembered in
// azkeep's home, and with --debug one line per az call (no secrets).
func (d *deps) azRunner() *azcli.Runner {
	d.runnerOnce.Do(func() {
		opts := azcli.Options{StateDir: d.g.Home}
		if d.g.Debug {
			opts.Log = func(line string) { fmt.Fprintf(d.g.IO.Err, "azkeep: debug: %s\n", line) }
		}
		d.runner = azcli.New(opts)
	})
	return d.runner
}

// azLogin is the lifecycle's Runner on azcli: an interactive `az login` in
// the private login dir, which azkeep removes afterwards.
type azLogin struct{ r *azcli.Runner }

func (a azLogin) Login(ctx context.Context, req lifecycle.LoginRequest) error {
	return a.r.Login(ctx, azcli.LoginOptions{
		ConfigDir: req.ConfigDir, Tenant: req.Tenant, DeviceCode: req.DeviceCode, Throwaway: true,
		In: req.In, Out: req.Out, Err: req.Err,
	})
}

// RefreshSubscriptions implements lifecycle.Refresher: `az account list
// --refresh` in a private dir azkeep removes afterwards.
func (a azLogin) RefreshSubscriptions(ctx context.Context, dir string) error {
	_, err := a.r.Run(ctx, azcli.Call{
		Args: []string{"account", "list", "--refresh", "--output", "none"}, ConfigDir: dir, Token: true, Throwaway: true,
	})
	return err
}

// nativeLogin is the lifecycle's Runner on native.Login: azkeep's own
// device-code sign-in, writing the files az login writes (the demo on a
// machine without az).
type nativeLogin struct {
	client *http.Client
	// maxInterval caps the device-code polling interval (0: as asked).
	maxInterval time.Duration
}

func (n nativeLogin) Login(ctx context.Context, req lifecycle.LoginRequest) error {
	_, err := native.Login(ctx, native.LoginOptions{
		ConfigDir: req.ConfigDir, Tenant: req.Tenant, Client: n.client, Prompt: req.Err, MaxInterval: n.maxInterval,
	})
	return err
}

// stagingDir is the az engine's staging dir in azkeep's home.
func stagingDir(ws *workspace.Workspace) string { return filepath.Join(ws.Dir(), "az") }

// lazyRefresher finds az only when a sync runs.
type lazyRefresher struct{ d *deps }

func (l lazyRefresher) RefreshSubscriptions(ctx context.Context, dir string) error {
	return azLogin{l.d.azRunner()}.RefreshSubscriptions(ctx, dir)
}

// newFiles is the Azure CLI's files as the lifecycle sees them.
func newFiles() lifecycle.Files { return lifecycle.AZFiles{} }

// newEngine picks the token engine by name. "az" is the seed's way (`az
// account get-access-token`, engine.AZ, run in azkeep's own staging dir
// stagingDir, so the refresh token never enters the target dir); "native"
// (the same refresh grant made by azkeep itself, internal/native).
func newEngine(name string, runner *azcli.Runner, stagingDir string) (engine.Engine, error) {
	switch name {
	case "", "az":
		return engine.NewAZ(runner, stagingDir), nil
	case "native":
		// Prefetch failures are warnings on stderr; ARM still works.
		return &native.Engine{Warn: os.Stderr}, nil
	}
	return nil, hint.New(fmt.Errorf("unknown engine %q", name), "use --engine az or --engine native")
}

// manager builds the lifecycle manager and runs lazy rotation first, as
// every azkeep command does (seed: rotation must not depend on the agent).
func (d *deps) manager(ctx context.Context) (*lifecycle.Manager, error) {
	m, err := d.bare()
	if err != nil {
		return nil, err
	}
	d.lazyRotate(ctx, m)
	return m, nil
}

// bare builds the manager without the lazy rotation: for `session rotate`,
// which rotates itself (rotating twice would spend a refresh grant).
func (d *deps) bare() (*lifecycle.Manager, error) {
	window, err := lifecycle.ParseWindow(os.Getenv(lifecycle.WindowEnv))
	if err != nil {
		return nil, err
	}
	m := &lifecycle.Manager{
		WS:        d.ws,
		Vault:     d.vault,
		AZ:        d.az,
		Refresher: lazyRefresher{d},
		Engine:    d.eng,
		Files:     newFiles(),
		TargetDir: d.g.ConfigDir,
		Window:    window,
		IO:        lifecycle.IO{In: d.g.IO.In, Out: d.g.IO.Out, Err: d.g.IO.Err},
	}
	return m, nil
}

// lazyRotate rotates every active session inside the window and reports
// failures as warnings.
func (d *deps) lazyRotate(ctx context.Context, m *lifecycle.Manager) {
	// One read when nothing is due: no active session inside the window
	// means LazyRotate would do nothing, so its own load is skipped and
	// this one kept for the command. Otherwise (or when the file does
	// not read, which LazyRotate reports as a warning) it runs as before
	// and re-checks everything itself.
	if st, err := d.ws.Load(); err == nil && !anyDue(m, st) {
		d.state = st
		return
	}
	rotated, err := m.LazyRotate(ctx)
	for _, r := range rotated {
		if d.g.Debug {
			fmt.Fprintf(d.g.IO.Err, "azkeep: debug: rotated session %s (%s), expires %s\n", r.Session.ID, r.Session.SubscriptionName, r.Session.ExpiresAt.Format(time.RFC3339))
		}
	}
	if err != nil {
		// A failed lazy rotation must not block the command (the user may
		// be running the very login that fixes it).
		fmt.Fprintf(d.g.IO.Err, "azkeep: warning: rotating the active session failed: %s\n", firstLower(err.Error()))
		if h := hint.Of(err); h != "" {
			fmt.Fprintf(d.g.IO.Err, "azkeep: hint: %s\n", h)
		}
	}
}

// anyDue reports whether some active session of st is inside the rotation
// window: a superset of what LazyRotate rotates (it also wants the config
// dir to exist and the integration online).
func anyDue(m *lifecycle.Manager, st *workspace.State) bool {
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	for i := range st.Sessions {
		if s := &st.Sessions[i]; s.ConfigDir != "" && m.Due(s, now) {
			return true
		}
	}
	return false
}

// loaded is the state for a read-only command: the one lazy rotation
// loaded when it rotated nothing, else a fresh read. It hands it out once.
func (d *deps) loaded() (*workspace.State, error) {
	if st := d.state; st != nil {
		d.state = nil
		return st, nil
	}
	return d.ws.Load()
}

// openManager builds the command's dependencies and its lifecycle manager
// (which runs lazy rotation first): the prologue of every lifecycle command.
func openManager(ctx context.Context, g *Globals) (*deps, *lifecycle.Manager, error) {
	d, err := newDeps(g)
	if err != nil {
		return nil, nil, err
	}
	m, err := d.manager(ctx)
	if err != nil {
		return nil, nil, err
	}
	return d, m, nil
}

// withState is withManager for a read-only command that needs the state:
// it gets the one lazy rotation already read when nothing was due.
func withState(g *Globals, fn func(ctx context.Context, m *lifecycle.Manager, st *workspace.State) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ctx, stop := commandContext(cmd)
		defer stop()
		d, m, err := openManager(ctx, g)
		if err != nil {
			return err
		}
		st, err := d.loaded()
		if err != nil {
			return err
		}
		return fn(ctx, m, st)
	}
}

// withManager is the RunE shape of every lifecycle command.
func withManager(g *Globals, fn func(ctx context.Context, m *lifecycle.Manager) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ctx, stop := commandContext(cmd)
		defer stop()
		_, m, err := openManager(ctx, g)
		if err != nil {
			return err
		}
		return fn(ctx, m)
	}
}

// commandContext is the command's context, cancelled by Ctrl-C or SIGTERM:
// an interrupted login still removes its private dir (it holds a refresh
// token), and an interrupted start or rotation puts the config dir back.
func commandContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// lazy opens a T on first use and keeps it, or the error, for every later
// use: the vault, az and the engine are opened only by the commands that
// need them, and once.
type lazy[T any] struct {
	open func() (T, error)
	once sync.Once
	v    T
	err  error
}

func (l *lazy[T]) get() (T, error) {
	l.once.Do(func() { l.v, l.err = l.open() })
	return l.v, l.err
}

// lazyVault opens the vault backend on first use and reuses it (each
// reopen can cost a keychain prompt).
type lazyVault struct {
	name string
	lazy[vault.Store]
}

func (v *lazyVault) Name() string {
	if v.v != nil {
		return v.v.Name()
	}
	if v.name == "" {
		return "default"
	}
	return v.name
}

func (v *lazyVault) Get(ctx context.Context, key string) ([]byte, error) {
	s, err := v.get()
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, key)
}

func (v *lazyVault) Set(ctx context.Context, key string, data []byte) error {
	s, err := v.get()
	if err != nil {
		return err
	}
	return s.Set(ctx, key, data)
}

func (v *lazyVault) Delete(ctx context.Context, key string) error {
	s, err := v.get()
	if err != nil {
		return err
	}
	return s.Delete(ctx, key)
}

func (v *lazyVault) List(ctx context.Context) ([]vault.Item, error) {
	s, err := v.get()
	if err != nil {
		return nil, err
	}
	return s.List(ctx)
}

// lazyRunner finds az on first use.
type lazyRunner struct {
	lazy[lifecycle.Runner]
}

func (l *lazyRunner) Login(ctx context.Context, req lifecycle.LoginRequest) error {
	r, err := l.get()
	if err != nil {
		return err
	}
	return r.Login(ctx, req)
}

// lazyEngine builds the engine on first use.
type lazyEngine struct {
	name string
	lazy[engine.Engine]
}

func (l *lazyEngine) Name() string {
	if l.name == "" {
		return "az"
	}
	return l.name
}

func (l *lazyEngine) Redeem(ctx context.Context, req engine.Request) (engine.Result, error) {
	e, err := l.get()
	if err != nil {
		return engine.Result{}, err
	}
	return e.Redeem(ctx, req)
}

func (l *lazyEngine) Logout(ctx context.Context, dir string) error {
	e, err := l.get()
	if err != nil {
		return err
	}
	return e.Logout(ctx, dir)
}

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
