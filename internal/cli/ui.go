package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/tui"
)

// UIOptions are the inputs of `ui`.
type UIOptions struct {
	IO      IO
	Manager managerFunc
	// Terminal reports whether stdin and stdout are a terminal.
	Terminal func() bool
	// Notes receives the procedures' notes and warnings; the dashboard
	// shows them in place while it runs.
	Notes      *tui.Notes
	DeviceCode bool
	// Run runs the dashboard (tui.Run).
	Run func(ctx context.Context, in io.Reader, out io.Writer, act tui.Actions, target string, notes *tui.Notes) error
}

// NewCmdUI builds `ui`.
func NewCmdUI(f *Factory, runF func(context.Context, *UIOptions) error) *cobra.Command {
	opts := &UIOptions{
		IO: f.IO, Manager: f.rotatedManager, Run: tui.Run,
		Terminal: func() bool { return isTerminal(f.IO.In) && isTerminal(f.IO.Out) },
	}
	cmd := &cobra.Command{
		Use:   "ui [--device-code]",
		Short: "A terminal dashboard: integrations, sessions, time left; start, stop, rotate, log in by key",
		Long: `Show every integration with its sessions, their status and the access
token's time left, counting down, and act on the selected row:

  ↑/↓ or j/k   move              s or Enter   start the session
  /            filter            x            stop it
  Esc          clear the filter  r            rotate it now
  l            log in            y            sync the integration's subscriptions
  q            quit

A failure shows under its row with the fix. The screen follows changes
other azkeep processes (shells, the agent) make to the state. A login hands
the terminal to az login (a browser, or with --device-code a code to enter
elsewhere) and comes back. Colours follow NO_COLOR.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !opts.Terminal() {
				return hint.New(errors.New("azkeep ui needs a terminal"), "azkeep session list and azkeep integration list print the same")
			}
			// What the procedures and the engine built from here on write
			// to stderr goes through the notes: on the dashboard's note
			// line while it holds the screen.
			opts.Notes = &tui.Notes{W: f.IO.Err}
			f.IO.Err = opts.Notes
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return uiRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DeviceCode, "device-code", false, "log in with a device code instead of a browser")
	return cmd
}

func uiRun(ctx context.Context, opts *UIOptions) error {
	m, err := opts.Manager(ctx)
	if err != nil {
		return err
	}
	m.IO = lifecycle.IO{Out: opts.Notes, Err: opts.Notes}
	return opts.Run(ctx, opts.IO.In, opts.IO.Out, uiActions(m, opts.DeviceCode), m.TargetDir, opts.Notes)
}

// uiActions are the dashboard's keys on the lifecycle manager: the same
// procedures the session and integration commands run.
func uiActions(m *lifecycle.Manager, deviceCode bool) tui.Actions {
	return tui.Actions{
		Load: m.WS.Load,
		Stamp: func() time.Time {
			fi, err := os.Stat(m.WS.Path())
			if err != nil {
				return time.Time{}
			}
			return fi.ModTime()
		},
		Start: func(ctx context.Context, id string) error { _, err := m.Start(ctx, id); return err },
		Stop:  func(ctx context.Context, id string) error { _, err := m.Stop(ctx, id); return err },
		Rotate: func(ctx context.Context, id string) error {
			_, err := m.Rotate(ctx, id, true)
			return err
		},
		Sync: func(ctx context.Context, id string) error { _, err := m.Sync(ctx, id); return err },
		Login: func(ctx context.Context, id string, in io.Reader, out, errOut io.Writer) error {
			// az login talks to the user on the terminal the dashboard
			// handed back.
			saved := m.IO
			m.IO = lifecycle.IO{In: in, Out: out, Err: errOut}
			defer func() { m.IO = saved }()
			_, err := m.Login(ctx, id, lifecycle.LoginOptions{DeviceCode: deviceCode})
			return err
		},
	}
}
