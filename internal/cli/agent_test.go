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

func TestAgentInstallSystemdUnitInTempDir(t *testing.T) {
	dir := t.TempDir()
	g := &Globals{Home: "/home/ada/.config/azkeep", ConfigDir: "/home/ada/.azure", Vault: "secret-service", Engine: "native"}
	var ran []string
	o := agentInstallOptions{GOOS: "linux", Dir: dir, Exe: "/usr/local/bin/azkeep", Run: func(_ context.Context, name string, args ...string) error {
		ran = append(ran, name+" "+strings.Join(args, " "))
		return nil
	}}
	var out bytes.Buffer
	if err := agentInstall(context.Background(), g, &out, o); err != nil {
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
	ran = nil
	out.Reset()
	if err := agentUninstall(context.Background(), &out, o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "azkeep-agent.service")); !os.IsNotExist(err) {
		t.Error("unit still there")
	}
	if ran[0] != "systemctl --user disable --now azkeep-agent.service" {
		t.Errorf("ran %q", ran)
	}
}

func TestAgentInstallLaunchdAndElsewhere(t *testing.T) {
	dir := t.TempDir()
	g := &Globals{Home: "/Users/ada/Library/Application Support/azkeep", ConfigDir: "/Users/ada/.azure"}
	var ran []string
	run := func(_ context.Context, name string, args ...string) error {
		ran = append(ran, name+" "+strings.Join(args, " "))
		return nil
	}
	var out bytes.Buffer
	if err := agentInstall(context.Background(), g, &out, agentInstallOptions{GOOS: "darwin", Dir: dir, Exe: "/opt/azkeep", Run: run}); err != nil {
		t.Fatal(err)
	}
	plist, err := os.ReadFile(filepath.Join(dir, "dev.azkeep.agent.plist"))
	if err != nil || !strings.Contains(string(plist), "<string>/opt/azkeep</string><string>agent</string>") ||
		!strings.Contains(string(plist), "<key>AZURE_CONFIG_DIR</key><string>/Users/ada/.azure</string>") {
		t.Fatalf("plist %v:\n%s", err, plist)
	}
	if len(ran) != 1 || !strings.HasPrefix(ran[0], "launchctl load -w ") {
		t.Errorf("ran %q", ran)
	}
	out.Reset()
	ran = nil
	if err := agentInstall(context.Background(), g, &out, agentInstallOptions{GOOS: "windows", Dir: dir, Exe: `C:\azkeep.exe`, Run: run}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Task Scheduler") || !strings.Contains(out.String(), `C:\azkeep.exe`) {
		t.Errorf("windows steps: %s", out.String())
	}
	out.Reset()
	if err := agentInstall(context.Background(), g, &out, agentInstallOptions{GOOS: "plan9", Dir: dir, Exe: "/bin/azkeep", Run: run}); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 0 || !strings.Contains(out.String(), "cannot install a service on plan9") {
		t.Errorf("ran %q, out %s", ran, out.String())
	}
}

func TestAgentInstallDryRunWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "units")
	g := &Globals{Home: "/h", ConfigDir: "/c"}
	var out bytes.Buffer
	o := agentInstallOptions{GOOS: "linux", Dir: dir, Exe: "/bin/azkeep", DryRun: true, Run: func(context.Context, string, ...string) error {
		t.Fatal("dry run ran a command")
		return nil
	}}
	if err := agentInstall(context.Background(), g, &out, o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("dry run created the unit dir")
	}
	if !strings.Contains(out.String(), "systemctl --user enable --now azkeep-agent.service") {
		t.Errorf("out %s", out.String())
	}
}

func TestAgentInstallRefusesUnquotablePaths(t *testing.T) {
	g := &Globals{Home: "/h\nExecStartPre=/bin/evil", ConfigDir: "/c"}
	err := agentInstall(context.Background(), g, &bytes.Buffer{}, agentInstallOptions{GOOS: "linux", Dir: t.TempDir(), Exe: "/bin/azkeep", Run: func(context.Context, string, ...string) error { return nil }})
	if err == nil {
		t.Fatal("a newline in AZKEEP_HOME went into the unit")
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
