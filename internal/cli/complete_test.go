package cli

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/azkeep/azkeep/internal/testbed"
)

// TestCompleteGolden pins what `azkeep __complete` offers (the shell
// scripts only relay it): live sessions and integrations with their
// descriptions, vault backends, engines, resources.
func TestCompleteGolden(t *testing.T) {
	root := t.TempDir()
	home, cfg := filepath.Join(root, "home"), filepath.Join(root, "azure")
	goldenHome(t, home, cfg)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"session_start", []string{"session", "start", ""}},
		{"session_start_prefix", []string{"session", "start", "d"}},
		{"session_start_id", []string{"session", "start", "s-"}},
		{"exec_command", []string{"exec", "Prod", ""}},
		{"integration_login", []string{"integration", "login", ""}},
		{"session_list_integration", []string{"session", "list", "--integration", ""}},
		{"vault", []string{"--vault", ""}},
		{"engine", []string{"--engine", ""}},
		{"resource", []string{"integration", "create", "--resource", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			f := NewFactory(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
			args := append([]string{"__complete", "--home", home, "--config-dir", cfg}, c.args...)
			if code := Run(f, args); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			golden(t, filepath.Join("complete", c.name+".txt"), out.Bytes())
		})
	}
}

// TestCompletionInRealShells loads the bash and zsh scripts in the real
// shells (scripts/test.sh installs both; CI fails without them).
func TestCompletionInRealShells(t *testing.T) {
	for _, sh := range []string{"bash", "zsh"} {
		_, err := exec.LookPath(sh)
		testbed.Require(t, err == nil, sh)
	}
	testscript.Run(t, scriptParams("shell"))
}
