package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/agent"
	"github.com/azkeep/azkeep/internal/workspace"
)

// agent install puts this shell's home, config dir, vault and engine into
// the unit (internal/agent writes and loads it).
func TestAgentInstallSystemdUnitInTempDir(t *testing.T) {
	dir := t.TempDir()
	g := &Globals{Home: "/home/ada/.config/azkeep", ConfigDir: "/home/ada/.azure", Vault: "secret-service", Engine: "native"}
	var ran []string
	o := agent.ServiceOptions{GOOS: "linux", Dir: dir, Exe: "/usr/local/bin/azkeep", Out: &bytes.Buffer{}, Run: func(_ context.Context, name string, args ...string) error {
		ran = append(ran, name+" "+strings.Join(args, " "))
		return nil
	}}
	if err := agentInstall(context.Background(), g, IO{}, o); err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(dir, "azkeep-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecStart=/usr/local/bin/azkeep agent\n",
		"Environment=AZKEEP_HOME=/home/ada/.config/azkeep\n",
		"Environment=AZURE_CONFIG_DIR=/home/ada/.azure\n",
		"Environment=AZKEEP_VAULT=secret-service\n",
		"Environment=AZKEEP_ENGINE=native\n",
		"WantedBy=default.target\n",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Join(ran, ";") != "systemctl --user daemon-reload;systemctl --user enable --now azkeep-agent.service" {
		t.Errorf("ran %q", ran)
	}
}

func TestAgentStatusRunningAndNot(t *testing.T) {
	home := t.TempDir()
	var out bytes.Buffer
	opts := &AgentStatusOptions{IO: IO{Out: &out}, Workspace: func() (*workspace.Workspace, error) { return workspace.Open(home) }, Output: "json"}
	if err := agentStatusRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var v AgentStatusView
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Running || v.Window != "20m0s" {
		t.Fatalf("%s %v", out.String(), err)
	}
	unlock, err := agent.Lock(home)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	agent.WriteStatus(home, agent.StatusRecord{PID: 7, Started: at, Window: "20m0s", Status: agent.Status{Next: []agent.Scheduled{{ID: "s1", Label: "Dev (/c)", At: at, State: "scheduled"}}}})
	out.Reset()
	opts.Output = "table"
	if err := agentStatusRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"agent: running (pid 7", "s1", "Dev (/c)", "2026-01-01T12:00:00Z", "scheduled"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSecondAgentRefused(t *testing.T) {
	home := t.TempDir()
	unlock, err := agent.Lock(home)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var errb bytes.Buffer
	code := Main([]string{"agent", "--home", home, "--config-dir", t.TempDir()}, IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &errb})
	if code != ExitError || !strings.Contains(errb.String(), "already running") {
		t.Errorf("exit %d: %s", code, errb.String())
	}
}
