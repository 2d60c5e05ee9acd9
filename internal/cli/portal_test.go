package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/workspace"
)

func TestPortalOpensTheSessionsSubscription(t *testing.T) {
	root := t.TempDir()
	home, cfg := filepath.Join(root, "home"), filepath.Join(root, "azure")
	goldenHome(t, home, cfg)
	ws, _ := workspace.Open(home)
	st, _ := ws.Load()
	portal := func(session string, open func(string) error) (string, string, error) {
		var out, errb bytes.Buffer
		err := portalRun(context.Background(), &PortalOptions{IO: IO{Out: &out, Err: &errb}, Session: session, Open: open,
			State: func(context.Context) (*workspace.State, error) { return st, nil }, ConfigDir: func() string { return cfg }})
		return out.String(), errb.String(), err
	}
	var opened string
	_, e, err := portal("", func(u string) error { opened = u; return nil })
	want := "https://portal.azure.com/#@00000000-0000-4000-8000-000000000001/resource/subscriptions/10000000-0000-4000-8000-000000000001/overview"
	if err != nil || opened != want || !strings.Contains(e, "opened the portal on Prod") {
		t.Fatalf("active session: %v %q %q", err, opened, e)
	}
	// No browser: the URL is printed.
	out, _, err := portal("Dev", nil)
	if err != nil || out != "https://portal.azure.com/#@00000000-0000-4000-8000-000000000001/resource/subscriptions/10000000-0000-4000-8000-000000000002/overview\n" {
		t.Fatalf("printed: %v %q", err, out)
	}
	if _, _, err := portal("Deb", nil); err == nil {
		t.Fatal("unknown session opened")
	}
	if got := portalURL("AzureUSGovernment", "t", "s"); !strings.HasPrefix(got, "https://portal.azure.us/#@t/") {
		t.Fatalf("gov: %q", got)
	}
}
