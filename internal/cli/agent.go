package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/agent"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/workspace"
)

// AgentOptions are the inputs of `agent`.
type AgentOptions struct {
	IO        IO
	Workspace func() (*workspace.Workspace, error)
	Manager   func() (*lifecycle.Manager, error)
	Rotated   func(context.Context) (*lifecycle.Manager, *workspace.State, error)
	Window    string
}

// NewCmdAgent builds `agent` and its subcommands.
func NewCmdAgent(f *Factory, runF func(context.Context, *AgentOptions) error) *cobra.Command {
	opts := &AgentOptions{IO: f.IO, Workspace: f.Workspace, Manager: f.Manager, Rotated: f.Rotated}
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
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return agentRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Window, "window", "", "rotation window, e.g. 20m (default $"+lifecycle.WindowEnv+", else 20m; must exceed 5m)")
	cmd.AddCommand(NewCmdAgentStatus(f, nil), NewCmdAgentInstall(f, nil), NewCmdAgentUninstall(f, nil))
	return cmd
}

// agentWindow resolves the window: flag, then environment, then default.
func agentWindow(flag string) (time.Duration, error) {
	if flag != "" {
		return lifecycle.ParseWindow(flag)
	}
	return lifecycle.ParseWindow(os.Getenv(lifecycle.WindowEnv))
}

// agentRun is `azkeep agent`: lock the home, then rotate until ctx ends
// (SIGINT or SIGTERM).
func agentRun(ctx context.Context, opts *AgentOptions) error {
	window, err := agentWindow(opts.Window)
	if err != nil {
		return err
	}
	ws, err := opts.Workspace()
	if err != nil {
		return err
	}
	unlock, err := agent.Lock(ws.Dir())
	if err != nil {
		return err
	}
	defer unlock()
	// The lazy rotation every command runs first must not be cancelled by
	// a signal: a redeemed refresh token has to reach the vault.
	m, _, err := opts.Rotated(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	m.Window = window
	started := time.Now()
	home := ws.Dir()
	// The target dir's and per-session dirs' active sessions, plus the
	// persistent dirs of azkeep env (env.go).
	s := agent.New(withEnvDirs(agent.LifecycleSource{M: m}, m, home), agent.Options{
		Window:  window,
		Changes: agent.Watch(ctx, home, workspace.StateFile),
		Log:     opts.IO.Err,
		OnPlan: func(st agent.Status) {
			_ = agent.WriteStatus(home, agent.StatusRecord{PID: os.Getpid(), Started: started, Window: window.String(), Status: st})
		},
	})
	err = s.Run(ctx)
	_ = os.Remove(filepath.Join(home, agent.StatusFile))
	return err
}

// --- status -----------------------------------------------------------------

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

// AgentStatusOptions are the inputs of `agent status`.
type AgentStatusOptions struct {
	IO        IO
	Workspace func() (*workspace.Workspace, error)
	Output    string
}

// NewCmdAgentStatus builds `agent status`.
func NewCmdAgentStatus(f *Factory, runF func(context.Context, *AgentStatusOptions) error) *cobra.Command {
	opts := &AgentStatusOptions{IO: f.IO, Workspace: f.Workspace}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Say whether the agent runs and when it next rotates what",
		Long: `Say whether an agent runs for this azkeep home and when it next rotates each
active session. --output json prints {running, pid, since, window, next:
[{session, label, at, state}]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return agentStatusRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

func agentStatusRun(ctx context.Context, opts *AgentStatusOptions) error {
	ws, err := opts.Workspace()
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
		items, err := agent.LifecycleSource{M: m}.Plan(ctx)
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
	out := opts.IO.Out
	if opts.Output == "json" {
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

// AgentInstallOptions are the inputs of `agent install` and `uninstall`.
type AgentInstallOptions struct {
	IO      IO
	Globals *Globals
	Service agent.ServiceOptions
}

// NewCmdAgentInstall builds `agent install`.
func NewCmdAgentInstall(f *Factory, runF func(context.Context, *AgentInstallOptions) error) *cobra.Command {
	opts := &AgentInstallOptions{IO: f.IO, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Run the agent as a user service (systemd on Linux, launchd on macOS)",
		Long: `Write a systemd user unit (Linux) or a launchd agent (macOS) that runs
"azkeep agent" with this shell's azkeep home, Azure CLI config dir, vault,
engine and window, and load it. Elsewhere, print the steps. --dry-run prints
the file and the commands only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return agentInstall(cmd.Context(), opts.Globals, opts.IO, opts.Service)
		},
	}
	cmd.Flags().BoolVar(&opts.Service.DryRun, "dry-run", false, "print the service file and commands, change nothing")
	return cmd
}

// NewCmdAgentUninstall builds `agent uninstall`.
func NewCmdAgentUninstall(f *Factory, runF func(context.Context, *AgentInstallOptions) error) *cobra.Command {
	opts := &AgentInstallOptions{IO: f.IO, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and remove the agent's user service",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			o := opts.Service
			o.Out, o.Err = opts.IO.Out, opts.IO.Err
			return agent.Uninstall(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&opts.Service.DryRun, "dry-run", false, "print the commands, change nothing")
	return cmd
}

// agentInstall installs the service for this shell's home, dir, vault,
// engine and window, reporting to streams unless o names others.
func agentInstall(ctx context.Context, g *Globals, streams IO, o agent.ServiceOptions) error {
	o.Home, o.Env = g.Home, serviceEnv(g)
	if o.Out == nil {
		o.Out, o.Err = streams.Out, streams.Err
	}
	return agent.Install(ctx, o)
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
