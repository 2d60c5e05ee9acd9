package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"text/template"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
)

// The user service's name on each OS: the systemd unit and the launchd
// label.
const (
	SystemdUnit  = "azkeep-agent.service"
	LaunchdLabel = "dev.azkeep.agent"
)

// ServiceOptions say where and how the user service that runs `azkeep
// agent` is installed. Tests set GOOS, Dir (or UserHome) and Run so that
// nothing touches the user's real service manager.
type ServiceOptions struct {
	// GOOS picks the service manager: systemd on linux, launchd on darwin;
	// elsewhere Install prints the steps (default runtime.GOOS).
	GOOS string
	// Dir is where the unit or plist goes (default: the user's systemd
	// unit dir, or ~/Library/LaunchAgents, under UserHome).
	Dir string
	// UserHome is the user's home dir, for the default Dir (default
	// os.UserHomeDir).
	UserHome string
	// Exe is the azkeep binary the service runs (default: this one).
	Exe string
	// Home is the azkeep home; launchd logs to its LogFile.
	Home string
	// Env is the environment the service runs with (name, value).
	Env [][2]string
	// DryRun prints the file and the commands without doing either.
	DryRun bool
	// Run runs a service-manager command (default: exec).
	Run func(ctx context.Context, name string, args ...string) error
	// Out receives what was done; Err receives warnings.
	Out, Err io.Writer
}

func (o *ServiceOptions) defaults() error {
	if o.GOOS == "" {
		o.GOOS = runtime.GOOS
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Err == nil {
		o.Err = io.Discard
	}
	if o.Run == nil {
		o.Run = func(ctx context.Context, name string, args ...string) error {
			out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	if o.Dir == "" && (o.GOOS == "linux" || o.GOOS == "darwin") {
		home := o.UserHome
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return err
			}
			home = h
		}
		switch o.GOOS {
		case "linux":
			cfg := os.Getenv("XDG_CONFIG_HOME")
			if cfg == "" {
				cfg = filepath.Join(home, ".config")
			}
			o.Dir = filepath.Join(cfg, "systemd", "user")
		case "darwin":
			o.Dir = filepath.Join(home, "Library", "LaunchAgents")
		}
	}
	return nil
}

var systemdTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("unit").Parse(`[Unit]
Description=azkeep agent: keeps Azure CLI sessions fresh
Documentation=https://github.com/azkeep/azkeep

[Service]
Type=simple
ExecStart={{.Exe}} agent
{{- range .Env}}
Environment={{index . 0}}={{index . 1}}
{{- end}}
Restart=on-failure
RestartSec=10s

[Install]
WantedBy=default.target
`))
})

var launchdTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("plist").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>{{.Label}}</string>
  <key>ProgramArguments</key>
  <array><string>{{.Exe}}</string><string>agent</string></array>
  <key>EnvironmentVariables</key>
  <dict>
{{- range .Env}}
    <key>{{index . 0}}</key><string>{{index . 1}}</string>
{{- end}}
  </dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>StandardErrorPath</key><string>{{.Log}}</string>
</dict>
</plist>
`))
})

// checkServiceValue refuses values a unit file or plist cannot hold as is.
func checkServiceValue(v string) error {
	if strings.ContainsAny(v, "\n\r\"\\%$<>&") {
		return hint.New(fmt.Errorf("%q cannot go into a service file as is", v), "use paths without quotes, backslashes, %, $, <, > or &")
	}
	return nil
}

// Install writes the user service and loads it (systemd on Linux, launchd
// on macOS); elsewhere it prints the steps to take by hand.
func Install(ctx context.Context, o ServiceOptions) error {
	if err := o.defaults(); err != nil {
		return err
	}
	out := o.Out
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Exe = exe
	}
	env := o.Env
	if o.GOOS == "linux" || o.GOOS == "darwin" {
		for _, v := range append([][2]string{{"", o.Exe}}, env...) {
			if err := checkServiceValue(v[1]); err != nil {
				return err
			}
		}
	}
	var (
		path, body string
		cmds       [][]string
	)
	var b bytes.Buffer
	switch o.GOOS {
	case "linux":
		path = filepath.Join(o.Dir, SystemdUnit)
		if err := systemdTmpl().Execute(&b, map[string]any{"Exe": o.Exe, "Env": env}); err != nil {
			return err
		}
		cmds = [][]string{{"systemctl", "--user", "daemon-reload"}, {"systemctl", "--user", "enable", "--now", SystemdUnit}}
	case "darwin":
		path = filepath.Join(o.Dir, LaunchdLabel+".plist")
		if err := launchdTmpl().Execute(&b, map[string]any{"Exe": o.Exe, "Env": env, "Label": LaunchdLabel, "Log": filepath.Join(o.Home, LogFile)}); err != nil {
			return err
		}
		cmds = [][]string{{"launchctl", "load", "-w", path}}
	default:
		fmt.Fprintf(out, `azkeep cannot install a service on %s. Run the agent at log-on instead:
  - Windows: Task Scheduler, "At log on", program %s, arguments "agent",
    with these environment variables set for your user:
`, o.GOOS, o.Exe)
		for _, e := range env {
			fmt.Fprintf(out, "      %s=%s\n", e[0], e[1])
		}
		fmt.Fprintln(out, "  - or keep `azkeep agent` running in a terminal.")
		return nil
	}
	body = b.String()
	if o.DryRun {
		fmt.Fprintf(out, "# %s\n%s\n", path, body)
		for _, c := range cmds {
			fmt.Fprintln(out, strings.Join(c, " "))
		}
		return nil
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return err
	}
	// No secret goes in the file; 0644 is what service managers expect.
	if err := fileutil.WriteAtomic(path, []byte(body), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s\n", path)
	for _, c := range cmds {
		if err := o.Run(ctx, c[0], c[1:]...); err != nil {
			return hint.New(fmt.Errorf("the service file is written but loading it failed: %w", err), "run: "+strings.Join(c, " "))
		}
		fmt.Fprintf(out, "ran %s\n", strings.Join(c, " "))
	}
	return nil
}

// Uninstall stops the user service and removes its file.
func Uninstall(ctx context.Context, o ServiceOptions) error {
	if err := o.defaults(); err != nil {
		return err
	}
	out := o.Out
	var path string
	var cmds [][]string
	switch o.GOOS {
	case "linux":
		path = filepath.Join(o.Dir, SystemdUnit)
		cmds = [][]string{{"systemctl", "--user", "disable", "--now", SystemdUnit}}
	case "darwin":
		path = filepath.Join(o.Dir, LaunchdLabel+".plist")
		cmds = [][]string{{"launchctl", "unload", "-w", path}}
	default:
		fmt.Fprintf(out, "azkeep installs no service on %s; remove the log-on task you created\n", o.GOOS)
		return nil
	}
	if o.DryRun {
		for _, c := range cmds {
			fmt.Fprintln(out, strings.Join(c, " "))
		}
		fmt.Fprintf(out, "rm %s\n", path)
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(out, "no agent service installed (%s does not exist)\n", path)
		return nil
	}
	for _, c := range cmds {
		if err := o.Run(ctx, c[0], c[1:]...); err != nil {
			fmt.Fprintf(o.Err, "azkeep: warning: %v\n", err)
		}
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	fmt.Fprintf(out, "removed %s\n", path)
	if o.GOOS == "linux" {
		_ = o.Run(ctx, "systemctl", "--user", "daemon-reload")
	}
	return nil
}
