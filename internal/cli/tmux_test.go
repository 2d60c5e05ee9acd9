//go:build unix

package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/workspace"
)

// tmuxTerm is a detached tmux session of 80×24 running one azkeep
// command, driven by keystrokes and read back as the screen's text: the
// dashboard and the picker seen as a user sees them.
type tmuxTerm struct {
	t    *testing.T
	sock string
}

func startTmux(t *testing.T, env []string, args ...string) *tmuxTerm {
	t.Helper()
	_, err := exec.LookPath("tmux")
	testbed.Require(t, err == nil, "tmux")
	azkeep, err := exec.LookPath("azkeep") // the test binary (TestMain)
	if err != nil {
		t.Fatal(err)
	}
	// A socket path of its own (short: sockets have a length limit), so
	// no tmux server of the user's is touched.
	dir, err := os.MkdirTemp("", "azk-tmux")
	if err != nil {
		t.Fatal(err)
	}
	tt := &tmuxTerm{t: t, sock: filepath.Join(dir, "s")}
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", tt.sock, "kill-server").Run()
		os.RemoveAll(dir)
	})
	// The shell keeps the pane open after azkeep exits, with its status.
	script := shellQuoteArgs(append([]string{azkeep}, args...)) + `; echo "[exit $?]"; sleep 30`
	cmd := exec.Command("tmux", "-f", "/dev/null", "-S", tt.sock, "new-session", "-d", "-x", "80", "-y", "24", "sh", "-c", script)
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	return tt
}

func shellQuoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// keys sends tmux key names ("Down", "Enter", "Escape") or literal text
// (-l) when literal is set.
func (tt *tmuxTerm) keys(literal bool, keys ...string) {
	tt.t.Helper()
	args := []string{"-S", tt.sock, "send-keys", "-t", "0"}
	if literal {
		args = append(args, "-l")
	}
	if out, err := exec.Command("tmux", append(args, keys...)...).CombinedOutput(); err != nil {
		tt.t.Fatalf("tmux send-keys %v: %v %s", keys, err, out)
	}
}

func (tt *tmuxTerm) screen() string {
	out, err := exec.Command("tmux", "-S", tt.sock, "capture-pane", "-p", "-t", "0").Output()
	if err != nil {
		tt.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

// waitFor returns the screen once it shows every one of want.
func (tt *tmuxTerm) waitFor(want ...string) string {
	tt.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := tt.screen()
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			tt.t.Fatalf("the screen never showed %q:\n%s", missing, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tmuxHome is a throwaway home with one integration and two sessions, and
// the environment that points azkeep at it: a file vault that holds
// nothing, so that starting a session fails (in place) on the missing
// refresh token.
func tmuxHome(t *testing.T) []string {
	root := t.TempDir()
	home, cfg := filepath.Join(root, "home"), filepath.Join(root, "azure")
	goldenHome(t, home, cfg)
	return []string{"AZKEEP_HOME=" + home, "AZURE_CONFIG_DIR=" + cfg, "AZKEEP_VAULT=file", "AZKEEP_VAULT_PASSPHRASE=tmux-test",
		"AZKEEP_ENGINE=native", "NO_COLOR=1", "TERM=xterm-256color"}
}

func TestTmuxUI(t *testing.T) {
	env := tmuxHome(t)
	tt := startTmux(t, env, "ui")
	s := tt.waitFor("contoso  online", "Prod", "active", "Dev", "q quit")
	t.Logf("dashboard:\n%s", s)

	// The filter box narrows the list; Enter leaves it, the arrows move.
	tt.keys(true, "/")
	tt.keys(true, "dev")
	s = tt.waitFor("filter: dev")
	if strings.Contains(s, "Prod ") {
		t.Fatalf("the filter kept Prod:\n%s", s)
	}
	tt.keys(false, "Enter", "Down")
	tt.keys(true, "s")
	s = tt.waitFor("✗ the vault (file) holds no refresh-token", "starting contoso/Dev failed")
	t.Logf("error in place:\n%s", s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.Contains(l, "✗ the vault") && (i == 0 || !strings.Contains(lines[i-1], "Dev")) {
			t.Fatalf("the error is not under its row:\n%s", s)
		}
	}

	// Another process changes the state: the screen follows.
	ws, err := workspace.Open(strings.TrimPrefix(env[0], "AZKEEP_HOME="))
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Update(context.Background(), func(st *workspace.State) error {
		st.Sessions[1].SubscriptionName = "Dev-Renamed"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tt.waitFor("Dev-Renamed")

	tt.keys(true, "q")
	tt.waitFor("[exit 0]")
}

func TestTmuxPicker(t *testing.T) {
	tt := startTmux(t, tmuxHome(t), "session", "start")
	s := tt.waitFor("start a session", "contoso/Prod", "contoso/Dev", "2/2")
	t.Logf("picker:\n%s", s)
	tt.keys(true, "dev")
	s = tt.waitFor("> dev", "1/2")
	t.Logf("picker, filtered:\n%s", s)
	tt.keys(false, "Enter")
	// The picked session is started: here it fails on the empty vault,
	// which names the picked session's integration.
	s = tt.waitFor(`azkeep: error: the vault (file) holds no refresh-token for integration "contoso"`, "[exit 1]")
	t.Logf("after Enter:\n%s", s)

	tt = startTmux(t, tmuxHome(t), "session", "start")
	tt.waitFor("start a session")
	tt.keys(false, "Escape")
	tt.waitFor("azkeep: error: cancelled: nothing picked", "[exit 1]")
}
