package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/workspace"
)

func TestWhoamiAndPrompt(t *testing.T) {
	root := t.TempDir()
	home, cfg := filepath.Join(root, "home"), filepath.Join(root, "azure")
	goldenHome(t, home, cfg)
	t.Setenv(SessionEnv, "")

	out, e, c := run(t, home, cfg, "--vault", "file", "whoami")
	for _, want := range []string{"contoso/Prod (s-prod)", "ada@contoso.onmicrosoft.com", "(access token until 2099-", "vault:", "file"} {
		if c != 0 || !strings.Contains(out, want) {
			t.Fatalf("whoami: %d %q %q, want %q", c, out, e, want)
		}
	}
	if out, _, c := run(t, home, cfg, "prompt"); c != 0 || !regexp.MustCompile(`^contoso/Prod \d+h\d\dm\n$`).MatchString(out) {
		t.Fatalf("prompt: %d %q", c, out)
	}
	// Nothing in use: the prompt is empty, whoami says so.
	other := filepath.Join(root, "other")
	if out, e, c := run(t, home, other, "prompt"); c != 0 || out != "" || e != "" {
		t.Fatalf("prompt without a session: %d %q %q", c, out, e)
	}
	if _, e, c := run(t, home, other, "whoami"); c != 1 || !strings.Contains(e, "no session is active") {
		t.Fatalf("whoami without a session: %d %q", c, e)
	}
}

// Inside azkeep exec or env the prompt shows the child's session, with the
// time left of its own dir when that dir says it.
func TestPromptInsideExecShowsTheChildsSession(t *testing.T) {
	root := t.TempDir()
	home, cfg := filepath.Join(root, "home"), filepath.Join(root, "azure")
	goldenHome(t, home, cfg)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	ws, _ := workspace.Open(home)
	st, _ := ws.Load()
	prompt := func(sessionEnv, dir string) string {
		var out bytes.Buffer
		opts := &PromptOptions{IO: IO{Out: &out}, State: func() (*workspace.State, error) { return st, nil },
			ConfigDir: func() string { return dir }, SessionEnv: sessionEnv, Now: func() time.Time { return now }}
		if err := promptRun(opts); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	execDir := filepath.Join(root, "exec")
	os.MkdirAll(execDir, 0o700)
	if got := prompt("s-dev", execDir); got != "contoso/Dev\n" {
		t.Fatalf("exec: %q", got)
	}
	envDir := filepath.Join(root, "env")
	os.MkdirAll(envDir, 0o700)
	sessiondir.WriteMarker(envDir, sessiondir.Marker{SessionID: "s-dev", ExpiresAt: now.Add(42*time.Minute + 30*time.Second)})
	if got := prompt("s-dev", envDir); got != "contoso/Dev 42m\n" {
		t.Fatalf("env: %q", got)
	}
	if got := prompt("", cfg); !strings.HasPrefix(got, "contoso/Prod ") {
		t.Fatalf("config dir: %q", got)
	}
	if got := prompt("s-gone", envDir); got != "" {
		t.Fatalf("unknown session: %q", got)
	}
}

// BenchmarkPromptInProcess is the prompt's own work (read and decode the
// state file, find the session, print): what the process adds to the Go
// runtime's start. The whole-process figure is in docs/performance.md.
func BenchmarkPromptInProcess(b *testing.B) {
	root := b.TempDir()
	home, cfg := filepath.Join(root, "home"), filepath.Join(root, "azure")
	goldenHome(b, home, cfg)
	var out bytes.Buffer
	opts := &PromptOptions{IO: IO{Out: &out}, Now: time.Now, ConfigDir: func() string { return cfg },
		State: func() (*workspace.State, error) {
			ws, err := workspace.Open(home)
			if err != nil {
				return nil, err
			}
			return ws.Load()
		}}
	for b.Loop() {
		out.Reset()
		if err := promptRun(opts); err != nil {
			b.Fatal(err)
		}
	}
}
