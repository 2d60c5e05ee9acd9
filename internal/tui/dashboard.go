package tui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

// Actions are what the dashboard shows and what its keys do. The ui
// command wires them to the lifecycle manager; tests pass fakes.
type Actions struct {
	// Load reads the state file.
	Load func() (*workspace.State, error)
	// Stamp identifies the state file's version (its modification time):
	// the dashboard polls it and reloads when another process (a shell,
	// the agent) changed the state.
	Stamp func() time.Time
	// Start, Stop, Rotate and Sync run one procedure on a session (Sync:
	// an integration) and return when it is done; they run off the UI's
	// goroutine.
	Start, Stop, Rotate, Sync func(ctx context.Context, id string) error
	// Login signs an integration in. It runs with the terminal handed
	// back (az login opens a browser or prints a device code), on the
	// streams given.
	Login func(ctx context.Context, id string, in io.Reader, out, errOut io.Writer) error
	// Now is the clock.
	Now func() time.Time
}

// row is one line of the list: an integration, or a session under it.
type row struct {
	in *workspace.Integration
	s  *workspace.Session // nil on an integration's row
}

func (r row) key() string {
	if r.s != nil {
		return r.s.ID
	}
	return r.in.ID
}

// Dashboard is the model of `azkeep ui`: the integrations with their
// sessions, one selected; keys run the procedures on the selected row.
type Dashboard struct {
	ctx     context.Context
	act     Actions
	target  string // the Azure CLI config dir, to tell "active here" apart
	st      *workspace.State
	stamp   time.Time
	loadErr error
	rows    []row
	cursor  int
	top     int
	width   int
	height  int

	filter    []rune
	filtering bool

	// busy is the running action ("" when idle); one runs at a time, as
	// the procedures themselves serialise on the lifecycle lock.
	busy      string
	busySince time.Time
	note      string           // the last action's outcome
	errs      map[string]error // the last failure per row key, shown under it
	quitting  bool
	notes     *Notes
	style     styles
}

// NewDashboard returns the dashboard on act for the config dir target,
// rendered with r (its colour profile follows the output and NO_COLOR).
func NewDashboard(ctx context.Context, act Actions, target string, r *lipgloss.Renderer) *Dashboard {
	if act.Now == nil {
		act.Now = time.Now
	}
	d := &Dashboard{ctx: ctx, act: act, target: workspace.CleanDir(target), width: 80, height: 24, errs: map[string]error{}, style: newStyles(r)}
	d.reload()
	return d
}

// Message types of the dashboard.
type (
	tickMsg time.Time
	doneMsg struct {
		key, what string
		err       error
	}
	noteMsg string
)

const pollEvery = time.Second

func tick() tea.Cmd {
	return tea.Tick(pollEvery, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Init implements tea.Model.
func (d *Dashboard) Init() tea.Cmd { return tick() }

func (d *Dashboard) reload() {
	if d.act.Stamp != nil {
		d.stamp = d.act.Stamp()
	}
	st, err := d.act.Load()
	d.loadErr = err
	if err == nil {
		d.st = st
	}
	d.rebuild()
}

// rebuild lists the rows the filter keeps, keeping the selected row
// selected when it is still there.
func (d *Dashboard) rebuild() {
	var sel string
	if d.cursor < len(d.rows) {
		sel = d.rows[d.cursor].key()
	}
	d.rows = d.rows[:0]
	if d.st != nil {
		q := strings.ToLower(strings.TrimSpace(string(d.filter)))
		for i := range d.st.Integrations {
			in := &d.st.Integrations[i]
			headHit := matches(q, in.Alias, in.Tenant+" "+string(in.Status)+" "+in.Username)
			var kept []row
			for _, s := range d.st.SessionsOf(in.ID) {
				if headHit || matches(q, in.Alias+"/"+s.SubscriptionName, s.SubscriptionID+" "+string(s.Status)) {
					kept = append(kept, row{in: in, s: s})
				}
			}
			if headHit || len(kept) > 0 {
				d.rows = append(d.rows, row{in: in})
				d.rows = append(d.rows, kept...)
			}
		}
	}
	d.cursor = 0
	for i, r := range d.rows {
		if r.key() == sel {
			d.cursor = i
			break
		}
	}
	d.scroll()
}

// matches reports whether the lower-case query q is in name or more, or
// its letters are in name in order (a subsequence of more as well would
// match nearly anything).
func matches(q, name, more string) bool {
	name = strings.ToLower(name)
	return strings.Contains(name+" "+strings.ToLower(more), q) || subsequence(q, name)
}

// listHeight is how many rows fit: the screen less the header (2 lines)
// and the footer (detail, note, keys).
func (d *Dashboard) listHeight() int { return max(1, d.height-5) }

func (d *Dashboard) scroll() {
	h := d.listHeight()
	if d.cursor < d.top {
		d.top = d.cursor
	}
	if d.cursor >= d.top+h {
		d.top = d.cursor - h + 1
	}
	d.top = max(0, min(d.top, len(d.rows)-h))
}

// Update implements tea.Model.
func (d *Dashboard) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		d.width, d.height = msg.Width, msg.Height
		d.scroll()
	case tickMsg:
		if d.act.Stamp == nil || !d.act.Stamp().Equal(d.stamp) {
			d.reload()
		}
		return d, tick()
	case doneMsg:
		d.busy = ""
		delete(d.errs, msg.key)
		if msg.err != nil {
			d.errs[msg.key] = msg.err
			d.note = msg.what + " failed"
		} else {
			d.note = msg.what + ": done"
		}
		d.reload()
	case noteMsg:
		d.note = string(msg)
	case tea.KeyMsg:
		if d.filtering {
			return d, d.filterKey(msg)
		}
		return d, d.key(msg)
	}
	return d, nil
}

func (d *Dashboard) filterKey(k tea.KeyMsg) tea.Cmd {
	switch k.Type {
	case tea.KeyCtrlC:
		d.quitting = true
		return tea.Quit
	case tea.KeyEsc:
		d.filter, d.filtering = nil, false
	case tea.KeyEnter, tea.KeyDown, tea.KeyUp:
		d.filtering = false
		if k.Type != tea.KeyEnter {
			return d.key(k)
		}
		return nil
	case tea.KeyBackspace:
		if len(d.filter) > 0 {
			d.filter = d.filter[:len(d.filter)-1]
		}
	case tea.KeyCtrlU:
		d.filter = nil
	case tea.KeyRunes:
		d.filter = append(d.filter, k.Runes...)
	case tea.KeySpace:
		d.filter = append(d.filter, ' ')
	default:
		return nil
	}
	d.rebuild()
	return nil
}

func (d *Dashboard) key(k tea.KeyMsg) tea.Cmd {
	switch k.String() {
	case "q", "ctrl+c":
		d.quitting = true
		return tea.Quit
	case "esc":
		if len(d.filter) > 0 {
			d.filter = nil
			d.rebuild()
		}
	case "/":
		d.filtering = true
	case "up", "k":
		d.cursor = max(0, d.cursor-1)
		d.scroll()
	case "down", "j":
		d.cursor = max(0, min(len(d.rows)-1, d.cursor+1))
		d.scroll()
	case "home", "g":
		d.cursor = 0
		d.scroll()
	case "end", "G":
		d.cursor = max(0, len(d.rows)-1)
		d.scroll()
	case "s", "enter":
		return d.onSession("starting", d.act.Start)
	case "x":
		return d.onSession("stopping", d.act.Stop)
	case "r":
		return d.onSession("rotating", d.act.Rotate)
	case "y":
		return d.onIntegration("syncing", d.act.Sync)
	case "l":
		return d.login()
	case "ctrl+r":
		d.reload()
	}
	return nil
}

func (d *Dashboard) selected() (row, bool) {
	if d.cursor >= len(d.rows) {
		return row{}, false
	}
	return d.rows[d.cursor], true
}

// begin marks an action running, or says why it cannot start.
func (d *Dashboard) begin(what string) bool {
	if d.busy != "" {
		d.note = "busy: " + d.busy
		return false
	}
	d.busy, d.busySince = what, d.act.Now()
	return true
}

func (d *Dashboard) onSession(verb string, fn func(context.Context, string) error) tea.Cmd {
	r, ok := d.selected()
	if !ok || fn == nil {
		return nil
	}
	if r.s == nil {
		d.note = "select a session (↑/↓) to " + strings.TrimSuffix(verb, "ing")
		return nil
	}
	what := verb + " " + r.in.Alias + "/" + r.s.SubscriptionName
	if !d.begin(what) {
		return nil
	}
	ctx, id := d.ctx, r.s.ID
	return func() tea.Msg { return doneMsg{key: id, what: what, err: fn(ctx, id)} }
}

func (d *Dashboard) onIntegration(verb string, fn func(context.Context, string) error) tea.Cmd {
	r, ok := d.selected()
	if !ok || fn == nil {
		return nil
	}
	what := verb + " " + r.in.Alias
	if !d.begin(what) {
		return nil
	}
	ctx, id := d.ctx, r.in.ID
	return func() tea.Msg { return doneMsg{key: id, what: what, err: fn(ctx, id)} }
}

// login hands the terminal to the login (a browser, or a device code to
// type elsewhere) and comes back to the dashboard when it is done.
func (d *Dashboard) login() tea.Cmd {
	r, ok := d.selected()
	if !ok || d.act.Login == nil {
		return nil
	}
	what := "logging in to " + r.in.Alias
	if !d.begin(what) {
		return nil
	}
	c := &execFunc{}
	ctx, id := d.ctx, r.in.ID
	c.run = func() error {
		// The program's loop waits for the login: a note sent to it now
		// would never be read, so notes go to the terminal meanwhile.
		defer d.notes.direct(c.err)()
		fmt.Fprintf(c.err, "azkeep: %s (Ctrl-C cancels and quits)\n", what)
		return d.act.Login(ctx, id, c.in, c.out, c.err)
	}
	return tea.Exec(c, func(err error) tea.Msg { return doneMsg{key: id, what: what, err: err} })
}

// execFunc is a function run by tea.Exec, with the program's terminal.
type execFunc struct {
	run      func() error
	in       io.Reader
	out, err io.Writer
}

func (c *execFunc) Run() error            { return c.run() }
func (c *execFunc) SetStdin(r io.Reader)  { c.in = r }
func (c *execFunc) SetStdout(w io.Writer) { c.out = w }
func (c *execFunc) SetStderr(w io.Writer) { c.err = w }

// View implements tea.Model.
func (d *Dashboard) View() string {
	if d.quitting {
		return ""
	}
	var lines []string
	add := func(s string) { lines = append(lines, ansi.Truncate(s, d.width, "…")) }

	head := d.style.title.Render("azkeep") + "  " + d.style.dim.Render("az uses "+d.target)
	filter := "/ filter"
	if d.filtering || len(d.filter) > 0 {
		filter = "filter: " + string(d.filter)
		if d.filtering {
			filter += d.style.cursor.Render(" ")
		}
	}
	add(head + strings.Repeat(" ", max(2, d.width-lipgloss.Width(head)-lipgloss.Width(filter))) + filter)
	add(d.style.dim.Render(strings.Repeat("─", d.width)))

	list := d.listLines()
	h := d.listHeight()
	for len(list) < h {
		list = append(list, "")
	}
	for _, l := range list[:h] {
		add(l)
	}
	add(d.detail())
	add(d.noteLine())
	add(d.style.dim.Render("↑↓ move  s/⏎ start  x stop  r rotate  l login  y sync  / filter  q quit"))
	return strings.Join(lines, "\n")
}

// listLines renders the visible rows, each followed by its last error.
func (d *Dashboard) listLines() []string {
	if d.loadErr != nil {
		return []string{d.style.bad.Render("✗ " + d.loadErr.Error())}
	}
	if len(d.rows) == 0 {
		if len(d.filter) > 0 {
			return []string{d.style.dim.Render("  no match for " + string(d.filter) + " (Esc clears)")}
		}
		return []string{d.style.dim.Render("  no integration yet: azkeep integration create --alias NAME --tenant TENANT")}
	}
	now := d.act.Now()
	var out []string
	for i := d.top; i < len(d.rows) && len(out) < d.listHeight(); i++ {
		r := d.rows[i]
		mark := "  "
		if i == d.cursor {
			mark = d.style.mark.Render("▸ ")
		}
		var line string
		if r.s == nil {
			line = d.style.title.Render(r.in.Alias) + "  " + d.integrationStatus(r.in) + "  " + d.style.dim.Render(r.in.Username+"  "+r.in.Tenant)
		} else {
			line = fmt.Sprintf("  %-38s %s", ansi.Truncate(r.s.SubscriptionName, 38, "…"), d.sessionStatus(r.s, now))
		}
		if i == d.cursor {
			line = d.style.selected.Render(line)
		}
		out = append(out, mark+line)
		if err := d.errs[r.key()]; err != nil {
			msg := "✗ " + err.Error()
			if h := hint.Of(err); h != "" {
				msg += " (" + h + ")"
			}
			// Wrapped under its row, three lines at most.
			wrapped := strings.Split(ansi.Wordwrap(msg, max(20, d.width-6), " "), "\n")
			for _, l := range wrapped[:min(3, len(wrapped))] {
				out = append(out, "    "+d.style.bad.Render(l))
			}
		}
	}
	return out
}

func (d *Dashboard) integrationStatus(in *workspace.Integration) string {
	s := string(in.Status)
	switch in.Status {
	case workspace.Online:
		return d.style.good.Render(s)
	case workspace.NeedsLogin:
		return d.style.bad.Render(s + " (l to log in)")
	}
	return d.style.dim.Render(s)
}

func (d *Dashboard) sessionStatus(s *workspace.Session, now time.Time) string {
	if s.Status != workspace.Active {
		return d.style.dim.Render(fmt.Sprintf("%-8s", s.Status))
	}
	where := ""
	if workspace.CleanDir(s.ConfigDir) != d.target {
		where = "  in " + s.ConfigDir
	}
	left := Countdown(s.ExpiresAt, now)
	if s.ExpiresAt.Sub(now) <= 0 {
		left = d.style.bad.Render(left)
	}
	return d.style.good.Render("active  ") + " " + left + d.style.dim.Render(where)
}

// detail describes the selected row in one line.
func (d *Dashboard) detail() string {
	r, ok := d.selected()
	if !ok {
		return ""
	}
	if r.s == nil {
		loc := r.in.Location
		if loc == "" {
			loc = "-"
		}
		return d.style.dim.Render(fmt.Sprintf("tenant %s  location %s  %d sessions", dashIfEmpty(r.in.TenantID), loc, len(d.st.SessionsOf(r.in.ID))))
	}
	return d.style.dim.Render("subscription " + r.s.SubscriptionID)
}

func (d *Dashboard) noteLine() string {
	if d.busy != "" {
		return fmt.Sprintf("%s… %ds", d.busy, int(d.act.Now().Sub(d.busySince).Seconds()))
	}
	return d.note
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// TimeLeft is an access token's remaining time, short: "42m", "1h05m",
// "expired", "-" for none.
func TimeLeft(expires, now time.Time) string {
	d := expires.Sub(now)
	switch {
	case expires.IsZero():
		return "-"
	case d <= 0:
		return "expired"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// Countdown is TimeLeft with the seconds under an hour, as the dashboard
// counts it down: "42m07s".
func Countdown(expires, now time.Time) string {
	if d := expires.Sub(now).Truncate(time.Second); !expires.IsZero() && d > 0 && d < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return TimeLeft(expires, now)
}

// Run runs the dashboard full screen on the terminal in/out until the
// user quits or ctx is cancelled. What the procedures write to notes
// meanwhile shows on the dashboard's note line.
func Run(ctx context.Context, in io.Reader, out io.Writer, act Actions, target string, notes *Notes) error {
	d := NewDashboard(ctx, act, target, lipgloss.NewRenderer(out))
	d.notes = notes
	p := tea.NewProgram(d, tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out), tea.WithAltScreen())
	defer notes.attach(p)()
	_, err := p.Run()
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Notes is the writer the procedures' progress notes and warnings go to
// (the lifecycle manager's and the engine's stderr): while a dashboard
// runs they show on its note line, since a write to the terminal would
// tear its screen; otherwise they go to W.
type Notes struct {
	W  io.Writer
	mu sync.Mutex
	p  *tea.Program
}

// Write implements io.Writer.
func (n *Notes) Write(b []byte) (int, error) {
	n.mu.Lock()
	p, w := n.p, n.W
	n.mu.Unlock()
	if p == nil {
		return w.Write(b)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		p.Send(noteMsg(strings.TrimPrefix(line, "azkeep: ")))
	}
	return len(b), nil
}

// attach sends the notes to p until the returned func is called.
func (n *Notes) attach(p *tea.Program) func() {
	if n == nil {
		return func() {}
	}
	n.mu.Lock()
	n.p = p
	n.mu.Unlock()
	return func() { n.mu.Lock(); n.p = nil; n.mu.Unlock() }
}

// direct writes the notes to w until the returned func is called.
func (n *Notes) direct(w io.Writer) func() {
	if n == nil {
		return func() {}
	}
	n.mu.Lock()
	p, old := n.p, n.W
	n.p, n.W = nil, w
	n.mu.Unlock()
	return func() { n.mu.Lock(); n.p, n.W = p, old; n.mu.Unlock() }
}
