package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a ServiceOptions.Run that records the commands instead of
// running them.
func recorder(ran *[]string) func(context.Context, string, ...string) error {
	return func(_ context.Context, name string, args ...string) error {
		*ran = append(*ran, name+" "+strings.Join(args, " "))
		return nil
	}
}

func TestInstallAndUninstallSystemd(t *testing.T) {
	dir := t.TempDir()
	var ran []string
	var out bytes.Buffer
	o := ServiceOptions{GOOS: "linux", Dir: dir, Exe: "/usr/local/bin/azkeep", Env: [][2]string{{"AZKEEP_HOME", "/home/ada/.config/azkeep"}},
		Run: recorder(&ran), Out: &out}
	if err := Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(dir, SystemdUnit))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/azkeep agent\n", "Environment=AZKEEP_HOME=/home/ada/.config/azkeep\n", "WantedBy=default.target\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Join(ran, ";") != "systemctl --user daemon-reload;systemctl --user enable --now azkeep-agent.service" {
		t.Errorf("ran %q", ran)
	}
	ran = nil
	out.Reset()
	if err := Uninstall(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, SystemdUnit)); !os.IsNotExist(err) {
		t.Error("unit still there")
	}
	if ran[0] != "systemctl --user disable --now azkeep-agent.service" {
		t.Errorf("ran %q", ran)
	}
}

func TestInstallLaunchdAndElsewhere(t *testing.T) {
	dir := t.TempDir()
	env := [][2]string{{"AZKEEP_HOME", "/Users/ada/Library/Application Support/azkeep"}, {"AZURE_CONFIG_DIR", "/Users/ada/.azure"}}
	var ran []string
	var out bytes.Buffer
	o := ServiceOptions{GOOS: "darwin", Dir: dir, Exe: "/opt/azkeep", Home: env[0][1], Env: env, Run: recorder(&ran), Out: &out}
	if err := Install(context.Background(), o); err != nil {
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
	o.GOOS, o.Exe = "windows", `C:\azkeep.exe`
	if err := Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Task Scheduler") || !strings.Contains(out.String(), `C:\azkeep.exe`) {
		t.Errorf("windows steps: %s", out.String())
	}
	out.Reset()
	o.GOOS, o.Exe = "plan9", "/bin/azkeep"
	if err := Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if len(ran) != 0 || !strings.Contains(out.String(), "cannot install a service on plan9") {
		t.Errorf("ran %q, out %s", ran, out.String())
	}
}

func TestInstallDryRunWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "units")
	var out bytes.Buffer
	o := ServiceOptions{GOOS: "linux", Dir: dir, Exe: "/bin/azkeep", DryRun: true, Out: &out, Run: func(context.Context, string, ...string) error {
		t.Fatal("dry run ran a command")
		return nil
	}}
	if err := Install(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("dry run created the unit dir")
	}
	if !strings.Contains(out.String(), "systemctl --user enable --now azkeep-agent.service") {
		t.Errorf("out %s", out.String())
	}
}

func TestInstallRefusesUnquotablePaths(t *testing.T) {
	o := ServiceOptions{GOOS: "linux", Dir: t.TempDir(), Exe: "/bin/azkeep", Env: [][2]string{{"AZKEEP_HOME", "/h\nExecStartPre=/bin/evil"}},
		Out: &bytes.Buffer{}, Run: func(context.Context, string, ...string) error { return nil }}
	if err := Install(context.Background(), o); err == nil {
		t.Fatal("a newline in AZKEEP_HOME went into the unit")
	}
}

// Without Dir the unit goes to $XDG_CONFIG_HOME/systemd/user, else under
// the user's home; the plist to ~/Library/LaunchAgents.
func TestServiceDirDefaults(t *testing.T) {
	home := t.TempDir()
	for _, c := range []struct{ goos, xdg, want string }{
		{"linux", "", filepath.Join(home, ".config", "systemd", "user", SystemdUnit)},
		{"linux", filepath.Join(home, "xdg"), filepath.Join(home, "xdg", "systemd", "user", SystemdUnit)},
		{"darwin", "", filepath.Join(home, "Library", "LaunchAgents", LaunchdLabel+".plist")},
	} {
		t.Setenv("XDG_CONFIG_HOME", c.xdg)
		var out bytes.Buffer
		o := ServiceOptions{GOOS: c.goos, UserHome: home, Exe: "/bin/azkeep", DryRun: true, Out: &out}
		if err := Install(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "# "+c.want+"\n") {
			t.Errorf("%s xdg=%q: %s", c.goos, c.xdg, out.String())
		}
	}
}

// A service-manager command that fails during uninstall is a warning on
// Err (it went to stdout), and the unit is removed anyway.
func TestUninstallWarnsOnErr(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SystemdUnit), []byte("[Unit]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	o := ServiceOptions{GOOS: "linux", Dir: dir, Out: &out, Err: &errw, Run: func(_ context.Context, name string, args ...string) error {
		if len(args) > 1 && args[1] == "disable" {
			return errors.New("systemctl --user disable: no session bus")
		}
		return nil
	}}
	if err := Uninstall(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if errw.String() != "azkeep: warning: systemctl --user disable: no session bus\n" {
		t.Errorf("stderr %q", errw.String())
	}
	if strings.Contains(out.String(), "warning") || !strings.Contains(out.String(), "removed ") {
		t.Errorf("stdout %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, SystemdUnit)); !os.IsNotExist(err) {
		t.Error("unit still there")
	}
}
