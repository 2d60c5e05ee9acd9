package tui

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

var now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func dashState() *workspace.State {
	return &workspace.State{
		Schema: workspace.SchemaVersion,
		Integrations: []workspace.Integration{
			{ID: "i1", Alias: "contoso", Tenant: "contoso.onmicrosoft.com", Status: workspace.Online, Username: "alice@contoso.com"},
			{ID: "i2", Alias: "fabrikam", Tenant: "fabrikam.com", Status: workspace.NeedsLogin},
		},
		Sessions: []workspace.Session{
			{ID: "s1", IntegrationID: "i1", SubscriptionName: "Production", SubscriptionID: "sub-1", Status: workspace.Active, ConfigDir: "/home/a/.azure", ExpiresAt: now.Add(42*time.Minute + 7*time.Second)},
			{ID: "s2", IntegrationID: "i1", SubscriptionName: "Pre-Production", SubscriptionID: "sub-2", Status: workspace.Inactive},
			{ID: "s3", IntegrationID: "i2", SubscriptionName: "Dev", SubscriptionID: "sub-3", Status: workspace.Inactive},
		},
	}
}

// fakeActions records the procedures the keys run; fail makes them fail.
type fakeActions struct {
	st    *workspace.State
	stamp time.Time
	ran   []string
	fail  error
}

func (f *fakeActions) actions() Actions {
	do := func(what string) func(context.Context, string) error {
		return func(_ context.Context, id string) error {
			f.ran = append(f.ran, what+" "+id)
			return f.fail
		}
	}
	return Actions{
		Load:   func() (*workspace.State, error) { return f.st, nil },
		Stamp:  func() time.Time { return f.stamp },
		Start:  do("start"),
		Stop:   do("stop"),
		Rotate: do("rotate"),
		Sync:   do("sync"),
		Login: func(_ context.Context, id string, _ io.Reader, _, _ io.Writer) error {
			f.ran = append(f.ran, "login "+id)
			return f.fail
		},
		Now: func() time.Time { return now },
	}
}

// press sends k and runs the command it returns, as the program would
// (an action's result comes back as a message).
func press(t *testing.T, d *Dashboard, ks ...tea.KeyMsg) {
	t.Helper()
	for _, k := range ks {
		_, cmd := d.Update(k)
		if cmd == nil {
			continue
		}
		msg := cmd()
		if _, ok := msg.(tea.QuitMsg); ok {
			continue
		}
		d.Update(msg)
	}
}

func key(s string) tea.KeyMsg {
	switch s {
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	}
	return typed(s)
}

func checkFits(t *testing.T, v string, w, h int) {
	t.Helper()
	lines := strings.Split(v, "\n")
	if len(lines) > h {
		t.Errorf("%d lines on a %d-line screen:\n%s", len(lines), h, v)
	}
	for _, l := range lines {
		if lipgloss.Width(l) > w {
			t.Errorf("line wider than %d: %q", w, l)
		}
	}
}

func TestDashboardShowsSessionsAndCountsDown(t *testing.T) {
	fa := &fakeActions{st: dashState()}
	d := NewDashboard(context.Background(), fa.actions(), "/home/a/.azure", plain())
	v := d.View()
	for _, want := range []string{"az uses /home/a/.azure", "▸ contoso  online  alice@contoso.com", "Production", "active   42m07s", "Pre-Production", "inactive", "fabrikam  needs-login (l to log in)", "q quit"} {
		if !strings.Contains(v, want) {
			t.Errorf("screen lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "\x1b[") {
		t.Errorf("escape codes with an ASCII profile (NO_COLOR):\n%q", v)
	}
	checkFits(t, v, 80, 24)

	fa.st.Sessions[0].ExpiresAt = now.Add(-time.Second)
	fa.stamp = now // another process wrote the state
	d.Update(tickMsg(now))
	if v := d.View(); !strings.Contains(v, "active   expired") {
		t.Errorf("after the state changed:\n%s", v)
	}
}

func TestDashboardKeysRunProcedures(t *testing.T) {
	fa := &fakeActions{st: dashState()}
	d := NewDashboard(context.Background(), fa.actions(), "/home/a/.azure", plain())
	press(t, d, key("s")) // on an integration's row: nothing to start
	if len(fa.ran) != 0 || !strings.Contains(d.View(), "select a session") {
		t.Fatalf("s on an integration ran %v:\n%s", fa.ran, d.View())
	}
	press(t, d, key("down"), key("down"), key("enter"), key("x"), key("r"), key("y"))
	want := []string{"start s2", "stop s2", "rotate s2", "sync i1"}
	if strings.Join(fa.ran, ",") != strings.Join(want, ",") {
		t.Fatalf("ran %v, want %v", fa.ran, want)
	}
	if v := d.View(); !strings.Contains(v, "syncing contoso: done") {
		t.Errorf("note:\n%s", v)
	}
}

func TestDashboardShowsErrorsInPlace(t *testing.T) {
	fa := &fakeActions{st: dashState(), fail: hint.New(errors.New(`integration "fabrikam" needs a new login`), "run azkeep integration login fabrikam")}
	d := NewDashboard(context.Background(), fa.actions(), "/home/a/.azure", plain())
	press(t, d, key("G"), key("s"))
	v := d.View()
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		if strings.Contains(l, "▸") && strings.Contains(l, "Dev") {
			if i+1 >= len(lines) || !strings.Contains(lines[i+1], `✗ integration "fabrikam" needs a new login (run azkeep integration login`) {
				t.Fatalf("no error under the row:\n%s", v)
			}
			checkFits(t, v, 80, 24)
			return
		}
	}
	t.Fatalf("Dev not selected:\n%s", v)
}

func TestDashboardFilter(t *testing.T) {
	fa := &fakeActions{st: dashState()}
	d := NewDashboard(context.Background(), fa.actions(), "/home/a/.azure", plain())
	press(t, d, key("/"), typed("pre"))
	v := d.View()
	if !strings.Contains(v, "filter: pre") || !strings.Contains(v, "Pre-Production") || strings.Contains(v, "fabrikam") || strings.Contains(v, "  Production") {
		t.Fatalf("filtered:\n%s", v)
	}
	// Keys typed in the filter box are text, not actions.
	if len(fa.ran) != 0 {
		t.Fatalf("ran %v while filtering", fa.ran)
	}
	press(t, d, key("enter"), key("down"), key("s"))
	if strings.Join(fa.ran, ",") != "start s2" {
		t.Fatalf("ran %v", fa.ran)
	}
	press(t, d, key("esc"))
	if v := d.View(); !strings.Contains(v, "fabrikam") {
		t.Fatalf("esc kept the filter:\n%s", v)
	}
}

func TestDashboardScrollsAtSmallHeight(t *testing.T) {
	st := dashState()
	for i := range 30 {
		st.Sessions = append(st.Sessions, workspace.Session{ID: "x" + string(rune('a'+i)), IntegrationID: "i1", SubscriptionName: "Sub " + string(rune('a'+i)), Status: workspace.Inactive})
	}
	fa := &fakeActions{st: st}
	d := NewDashboard(context.Background(), fa.actions(), "/home/a/.azure", plain())
	d.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	press(t, d, key("G"))
	v := d.View()
	checkFits(t, v, 80, 24)
	if !strings.Contains(v, "▸") || !strings.Contains(v, "Dev") {
		t.Fatalf("last row not in view:\n%s", v)
	}
}

func TestNotesGoToTheWriterWithoutADashboard(t *testing.T) {
	var b strings.Builder
	n := &Notes{W: &b}
	io.WriteString(n, "azkeep: waiting for the lock\n")
	if b.String() != "azkeep: waiting for the lock\n" {
		t.Fatalf("%q", b.String())
	}
}

func TestCountdown(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{42*time.Minute + 7*time.Second, "42m07s"}, {65 * time.Minute, "1h05m"}, {0, "expired"}} {
		if got := Countdown(now.Add(c.d), now); got != c.want {
			t.Errorf("Countdown(%s) = %q, want %q", c.d, got, c.want)
		}
	}
	if Countdown(time.Time{}, now) != "-" {
		t.Error("zero time")
	}
}
