package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/agent"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/workspace"
)

func newAgentCmd(g *Globals) *cobra.Command {
	var window string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Keep active sessions fresh in the background",
		Long: `azkeep agent runs in the foreground (for systemd, launchd or a terminal) and
keeps every active session fresh — the one in the Azure CLI's config dir and
any per-session dirs — by rotating each when its access token enters the
rotation window (20 minutes; --window or AZKEEP_ROTATE_WINDOW). It sleeps on
a timer until the next rotation is due, retries network errors with
exponential back-off, and says once in its log when an integration needs a
new login. SIGINT or SIGTERM stop it cleanly (a rotation in progress is
finished first). One agent runs per azkeep home.

Every azkeep command also rotates the active session when it is due, so
nothing breaks while the agent is not running; the agent makes it certain.

  azkeep agent                 # foreground, logs to stderr
  azkeep agent install         # run it as a user service (systemd, launchd)
  azkeep agent status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agentRun(cmdContext(cmd), g, agentOptions{Window: window})
		},
	}
	cmd.Flags().StringVar(&window, "window", "", "rotation window, e.g. 20m (default $"+lifecycle.WindowEnv+", else 20m; must exceed 5m)")
	cmd.AddCommand(newAgentStatusCmd(g), newAgentInstallCmd(g), newAgentUninstallCmd(g))
	return cmd
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

type agentOptions struct {
	Window string
}

// agentWindow resolves the window: flag, then environment, then default.
func agentWindow(flag string) (time.Duration, error) {
	if flag != "" {
		return lifecycle.ParseWindow(flag)
	}
	return lifecycle.ParseWindow(os.Getenv(lifecycle.WindowEnv))
}

// agentRun is `azkeep agent`: lock the home, then rotate until a signal.
func agentRun(ctx context.Context, g *Globals, o agentOptions) error {
	window, err := agentWindow(o.Window)
	if err != nil {
		return err
	}
	d, err := newDeps(g)
	if err != nil {
		return err
	}
	unlock, err := agent.Lock(d.ws.Dir())
	if err != nil {
		return err
	}
	defer unlock()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The lazy rotation every command runs first must not be cancelled by
	// a signal either: a redeemed refresh token has to reach the vault.
	m, err := d.manager(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	m.Window = window
	started := time.Now()
	home := d.ws.Dir()
	// The target dir's and per-session dirs' active sessions, plus the
	// persistent dirs of azkeep env (env.go).
	s := agent.New(withEnvDirs(agent.LifecycleSource{M: m}, m, home), agent.Options{
		Window:  window,
		Changes: agent.Watch(ctx, home, workspace.StateFile),
		Log:     g.IO.Err,
		OnPlan: func(st agent.Status) {
			_ = agent.WriteStatus(home, agent.StatusRecord{PID: os.Getpid(), Started: started, Window: window.String(), Status: st})
		},
	})
	err = s.Run(ctx)
	_ = os.Remove(filepath.Join(home, agent.StatusFile))
	return err
}

// --- status -----------------------------------------------------------------

type agentStatusOptions struct{ Output string }

// AgentStatusView is the stable JSON shape of `azkeep agent status`.
type AgentStatusView struct {
	Running bool   `json:"running"`
	PID     int    `json:"pid,omitempty"`
	Since   string `json:"since,omitempty"`
	Window  string `json:"window,omitempty"`
	// Next lists the active sessions and when each is rotated next
	// (RFC 3339, UTC); state is scheduled, retrying or needs-login.
	Next []AgentNextView `json:"next"`
}

// AgentNextView is one session in AgentStatusView.
type AgentNextView struct {
	Session string `json:"session"`
	Label   string `json:"label"`
	At      string `json:"at,omitempty"`
	State   string `json:"state"`
}

func newAgentStatusCmd(g *Globals) *cobra.Command {
	var o agentStatusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Say whether the agent runs and when it next rotates what",
		Long: `Say whether an agent runs for this azkeep home and when it next rotates each
active session. --output json prints {running, pid, since, window, next:
[{session, label, at, state}]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agentStatus(g, g.IO.Out, o)
		},
	}
	outputFlag(cmd, &o.Output)
	return cmd
}

func agentStatus(g *Globals, out io.Writer, o agentStatusOptions) error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	ws, err := workspace.Open(g.Home)
	if err != nil {
		return err
	}
	v := AgentStatusView{Running: agent.Running(ws.Dir()), Next: []AgentNextView{}}
	if v.Running {
		rec, err := agent.ReadStatus(ws.Dir())
		if err != nil {
			return err
		}
		if rec != nil {
			v.PID, v.Since, v.Window = rec.PID, rfc3339(rec.Started), rec.Window
			for _, n := range rec.Next {
				v.Next = append(v.Next, AgentNextView{Session: n.ID, Label: n.Label, At: rfc3339(n.At), State: n.State})
			}
		}
	} else {
		// Not running: what it would do, from the state file.
		window, err := agentWindow("")
		if err != nil {
			return err
		}
		m := &lifecycle.Manager{WS: ws, Window: window}
		items, err := agent.LifecycleSource{M: m}.Plan(context.Background())
		if err != nil {
			return err
		}
		v.Window = window.String()
		for _, it := range items {
			n := AgentNextView{Session: it.ID, Label: it.Label, At: rfc3339(it.Due), State: "scheduled"}
			if it.NeedsLogin {
				n.State, n.At = "needs-login", ""
			}
			v.Next = append(v.Next, n)
		}
	}
	if o.Output == "json" {
		return writeJSON(out, v)
	}
	if v.Running {
		fmt.Fprintf(out, "agent: running (pid %d, since %s, window %s)\n", v.PID, v.Since, v.Window)
	} else {
		fmt.Fprintf(out, "agent: not running (start it with azkeep agent, or azkeep agent install)\n")
	}
	if len(v.Next) == 0 {
		fmt.Fprintln(out, "no active session")
		return nil
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "SESSION\tWHAT\tNEXT ROTATION\tSTATE")
	for _, n := range v.Next {
		at := n.At
		if at == "" {
			at = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Session, n.Label, at, n.State)
	}
	return tw.Flush()
}

// --- install / uninstall ----------------------------------------------------

// serviceName names the user service on every OS.
const (
	systemdUnit  = "azkeep-agent.service"
	launchdLabel = "dev.azkeep.agent"
)

// agentInstallOptions say where and how the service is installed. Tests
// set GOOS, Dir and Run so that nothing touches the user's real service
// manager.
type agentInstallOptions struct {
	GOOS string
	// Dir is where the unit or plist goes (default: the user's systemd
	// unit dir, or ~/Library/LaunchAgents).
	Dir string
	// Exe is the azkeep binary the service runs (default: this one).
	Exe string
	// DryRun prints the file and the commands without doing either.
	DryRun bool
	// Run runs a service-manager command (default: exec).
	Run func(ctx context.Context, name string, args ...string) error
}

func newAgentInstallCmd(g *Globals) *cobra.Command {
	var o agentInstallOptions
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Run the agent as a user service (systemd on Linux, launchd on macOS)",
		Long: `Write a systemd user unit (Linux) or a launchd agent (macOS) that runs
"azkeep agent" with this shell's azkeep home, Azure CLI config dir, vault,
engine and window, and load it. Elsewhere, print the steps. --dry-run prints
the file and the commands only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agentInstall(cmdContext(cmd), g, g.IO.Out, o)
		},
	}
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the service file and commands, change nothing")
	return cmd
}

func newAgentUninstallCmd(g *Globals) *cobra.Command {
	var o agentInstallOptions
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the agent's user service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return agentUninstall(cmdContext(cmd), g.IO.Out, o)
		},
	}
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the commands, change nothing")
	return cmd
}

func (o *agentInstallOptions) defaults() error {
	if o.GOOS == "" {
		o.GOOS = runtime.GOOS
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
	if o.Dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return err
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

// serviceEnv is what the service needs to act on the same home, dir,
// vault, engine and window as the shell that installed it.
func serviceEnv(g *Globals) [][2]string {
	env := [][2]string{{"AZKEEP_HOME", g.Home}, {"AZURE_CONFIG_DIR", g.ConfigDir}}
	if g.Vault != "" {
		env = append(env, [2]string{"AZKEEP_VAULT", g.Vault})
	}
	if g.Engine != "" {
		env = append(env, [2]string{"AZKEEP_ENGINE", g.Engine})
	}
	if w := os.Getenv(lifecycle.WindowEnv); w != "" {
		env = append(env, [2]string{lifecycle.WindowEnv, w})
	}
	return env
}

var systemdTmpl = template.Must(template.New("unit").Parse(`[Unit]
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

var launchdTmpl = template.Must(template.New("plist").Parse(`<?xml version="1.0" encoding="UTF-8"?>
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

// checkServiceValue refuses values a unit file or plist cannot hold as is.
func checkServiceValue(v string) error {
	if strings.ContainsAny(v, "\n\r\"\\%$<>&") {
		return hint.New(fmt.Errorf("%q cannot go into a service file as is", v), "use paths without quotes, backslashes, %, $, <, > or &")
	}
	return nil
}

func agentInstall(ctx context.Context, g *Globals, out io.Writer, o agentInstallOptions) error {
	if err := o.defaults(); err != nil {
		return err
	}
	if o.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.Exe = exe
	}
	env := serviceEnv(g)
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
		path = filepath.Join(o.Dir, systemdUnit)
		if err := systemdTmpl.Execute(&b, map[string]any{"Exe": o.Exe, "Env": env}); err != nil {
			return err
		}
		cmds = [][]string{{"systemctl", "--user", "daemon-reload"}, {"systemctl", "--user", "enable", "--now", systemdUnit}}
	case "darwin":
		path = filepath.Join(o.Dir, launchdLabel+".plist")
		if err := launchdTmpl.Execute(&b, map[string]any{"Exe": o.Exe, "Env": env, "Label": launchdLabel, "Log": filepath.Join(g.Home, agent.LogFile)}); err != nil {
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

func agentUninstall(ctx context.Context, out io.Writer, o agentInstallOptions) error {
	if err := o.defaults(); err != nil {
		return err
	}
	var path string
	var cmds [][]string
	switch o.GOOS {
	case "linux":
		path = filepath.Join(o.Dir, systemdUnit)
		cmds = [][]string{{"systemctl", "--user", "disable", "--now", systemdUnit}}
	case "darwin":
		path = filepath.Join(o.Dir, launchdLabel+".plist")
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
			fmt.Fprintf(out, "azkeep: warning: %v\n", err)
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
