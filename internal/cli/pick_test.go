package cli

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/tui"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// pickRun runs azkeep in-process like run, as if at a terminal (or not),
// with pick standing in for the picker and a login that only records the
// tenant it was asked for.
func pickRun(t *testing.T, home string, interactive bool, pick func(string, []tui.Item) (string, error), args ...string) (stderr string, code int, tenants []string) {
	t.Helper()
	var out, errb bytes.Buffer
	f := NewFactory(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	mem := vault.NewMemory()
	f.Vault = func() (vault.Store, error) { return mem, nil }
	f.Interactive = func() bool { return interactive }
	f.Pick = pick
	f.Login = func() lifecycle.Runner {
		return loginFunc(func(_ context.Context, req lifecycle.LoginRequest) error {
			tenants = append(tenants, req.Tenant)
			return errors.New("signed in nowhere")
		})
	}
	code = Run(f, append([]string{"--home", home, "--config-dir", filepath.Join(home, "azure")}, args...))
	return errb.String(), code, tenants
}

func TestMissingArgumentOpensAPickerOnATerminalOnly(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	noPick := func(string, []tui.Item) (string, error) { t.Fatal("picker opened"); return "", nil }
	for _, alias := range []string{"contoso", "fabrikam"} {
		if e, c, _ := pickRun(t, home, false, noPick, "integration", "create", "--alias", alias, "--tenant", alias+".onmicrosoft.com"); c != 0 {
			t.Fatalf("create: %s", e)
		}
	}

	// No terminal: the errors they always were.
	if e, c, _ := pickRun(t, home, false, noPick, "integration", "login"); c == 0 || !strings.Contains(e, "accepts 1 arg(s), received 0") {
		t.Fatalf("login without terminal: %d %q", c, e)
	}
	if e, c, _ := pickRun(t, home, false, noPick, "session", "start"); c == 0 || !strings.Contains(e, "accepts 1 arg(s), received 0") {
		t.Fatalf("start without terminal: %d %q", c, e)
	}
	if e, c, _ := pickRun(t, home, false, noPick, "exec"); c != 2 || !strings.Contains(e, "exec needs a session") {
		t.Fatalf("exec without terminal: %d %q", c, e)
	}

	// A terminal: the picker lists the integrations; the pick is used.
	var listed []tui.Item
	pick := func(title string, items []tui.Item) (string, error) {
		listed = items
		return items[1].Value, nil
	}
	_, _, tenants := pickRun(t, home, true, pick, "integration", "login")
	if len(listed) != 2 || listed[0].Title != "contoso" || !strings.Contains(listed[1].Detail, "fabrikam.onmicrosoft.com") {
		t.Fatalf("picker items: %+v", listed)
	}
	if len(tenants) != 1 || tenants[0] != "fabrikam.onmicrosoft.com" {
		t.Fatalf("logged in to %v", tenants)
	}
	cancel := func(string, []tui.Item) (string, error) { return "", tui.ErrCancelled }
	if e, c, tenants := pickRun(t, home, true, cancel, "integration", "logout"); c != 1 || len(tenants) != 0 || !strings.Contains(e, "cancelled") {
		t.Fatalf("cancelled: %d %q", c, e)
	}
	// Nothing to pick from: the fix, not an empty picker.
	if e, c, _ := pickRun(t, home, true, noPick, "session", "start"); c != 1 || !strings.Contains(e, "no session to pick") || !strings.Contains(e, "hint: log in first") {
		t.Fatalf("no sessions: %d %q", c, e)
	}
}

func TestSessionItemsShowStatusAndTimeLeft(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	st := &workspace.State{
		Integrations: []workspace.Integration{{ID: "i1", Alias: "contoso"}},
		Sessions: []workspace.Session{
			{ID: "s1", SubscriptionName: "prod", IntegrationID: "i1", Status: workspace.Active, ExpiresAt: now.Add(42*time.Minute + 10*time.Second)},
			{ID: "s2", SubscriptionName: "dev", IntegrationID: "i1", Status: workspace.Inactive},
		},
	}
	got := sessionItems(st, now)
	want := []tui.Item{{Title: "contoso/prod", Detail: "active 42m", Value: "s1"}, {Title: "contoso/dev", Detail: "inactive", Value: "s2"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("items %+v", got)
	}
	for d, want := range map[time.Duration]string{-time.Second: "expired", 65 * time.Minute: "1h05m", 59 * time.Second: "0m"} {
		if got := tui.TimeLeft(now.Add(d), now); got != want {
			t.Errorf("TimeLeft(%s) = %q, want %q", d, got, want)
		}
	}
}

// `session start -` goes back to the session started before, per config
// dir, as `cd -` does.
func TestStartHistory(t *testing.T) {
	home, dir := t.TempDir(), filepath.Join(t.TempDir(), "azure")
	if _, err := previousSession(home, dir); err == nil || !strings.Contains(err.Error(), "no previous session") {
		t.Fatalf("empty history: %v", err)
	}
	for _, id := range []string{"a", "b", "b"} {
		if err := recordStart(home, dir, id); err != nil {
			t.Fatal(err)
		}
	}
	if p, err := previousSession(home, dir); err != nil || p != "a" {
		t.Fatalf("previous %q %v", p, err)
	}
	recordStart(home, dir, "a")
	if p, _ := previousSession(home, dir); p != "b" {
		t.Fatalf("after going back, previous %q", p)
	}
	if _, err := previousSession(home, filepath.Join(home, "other")); err == nil {
		t.Fatal("history leaked to another dir")
	}
}
