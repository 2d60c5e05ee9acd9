package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/workspace"
)

const sessionArgHelp = `SESSION is a subscription name, a subscription id or a session id (see
"azkeep session list"); a name that matches several sessions is refused
with the candidates listed.`

func newCmdSession(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "session",
		Aliases: []string{"sessions", "s"},
		Short:   "Start, rotate and stop subscriptions in the Azure CLI's config dir",
		Long: `A session is one subscription reachable through an integration. One session
at a time is active in the Azure CLI's config dir (--config-dir,
$AZURE_CONFIG_DIR, else ~/.azure); az, Terraform and the Azure SDKs then use
it. The dir holds a short-lived access token and never the refresh token,
which stays in the vault.

  azkeep session list
  azkeep session start "My Subscription"
  az account show
  azkeep session stop

Every azkeep command first rotates the active session when its access token
expires within the rotation window (20 minutes; AZKEEP_ROTATE_WINDOW=30m
changes it; 5 minutes or less is refused because az itself treats a token
with less than 5 minutes left as expired).`,
	}
	cmd.AddCommand(
		NewCmdSessionList(f, nil),
		NewCmdSessionStart(f, nil),
		NewCmdSessionStop(f, nil),
		NewCmdSessionRotate(f, nil),
		NewCmdSessionCurrent(f, nil),
	)
	return cmd
}

// SessionListOptions are the inputs of `session list`.
type SessionListOptions struct {
	IO          IO
	State       func(context.Context) (*workspace.State, error)
	Integration string
	Output      string
}

const sessionJSONHelp = `--output json prints objects with the stable fields
id, subscription_id, subscription_name, tenant_id, integration_id,
integration, status (inactive, pending or active), config_dir, started_at
and expires_at (RFC 3339, UTC; omitted when not active).`

// NewCmdSessionList builds `session list`.
func NewCmdSessionList(f *Factory, runF func(context.Context, *SessionListOptions) error) *cobra.Command {
	opts := &SessionListOptions{IO: f.IO, State: f.RotatedState}
	cmd := &cobra.Command{
		Use:     "list [--integration NAME]",
		Aliases: []string{"ls"},
		Short:   "List sessions",
		Long:    "List sessions, one per subscription of every logged-in integration.\n\n" + sessionJSONHelp,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sessionListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Integration, "integration", "", "only the sessions of this integration")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func sessionListRun(ctx context.Context, opts *SessionListOptions) error {
	st, err := opts.State(ctx)
	if err != nil {
		return err
	}
	var keep func(*workspace.Session) bool
	if opts.Integration != "" {
		in, err := st.Integration(opts.Integration)
		if err != nil {
			return err
		}
		only := in.ID
		keep = func(s *workspace.Session) bool { return s.IntegrationID == only }
	}
	return printSessionRows(opts.IO.Out, opts.Output, sessionRowsOf(st, keep))
}

// SessionOptions are the inputs of `session start`, `stop` and `current`.
type SessionOptions struct {
	IO      IO
	Manager managerFunc
	Session string
	Output  string
}

// NewCmdSessionStart builds `session start`.
func NewCmdSessionStart(f *Factory, runF func(context.Context, *SessionOptions) error) *cobra.Command {
	opts := &SessionOptions{IO: f.IO, Manager: f.rotatedManager}
	cmd := &cobra.Command{
		Use:   "start [SESSION | -]",
		Short: "Make SESSION the active subscription of the Azure CLI's config dir",
		Long: `Start a session in the Azure CLI's config dir. The session active there is
stopped first. Then, as the seed does it: the refresh token, account and
profile come from the vault; azureProfile.json gets this subscription
alone; the account and refresh token go into the token cache; an access
token is fetched; its expiry is recorded; a rotated refresh token goes back
to the vault; the refresh token is removed from the cache; the
integration's location becomes [defaults] location.

If the refresh token is rejected the integration is marked needs-login and
nothing else changes.

"-" starts the session started in this config dir before the current one,
as "cd -" does. Without SESSION, on a terminal, a picker lists the sessions.

` + sessionArgHelp,
		Example: `  azkeep session start "Pay-As-You-Go"
  azkeep session start 00000000-0000-0000-0000-000000000000
  azkeep session start -          # back to the session started before this one
  azkeep session start            # on a terminal: pick one`,
		Args: oneArgOrPick(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Session, err = f.sessionArg(args, "start a session"); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sessionStartRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

func sessionStartRun(ctx context.Context, opts *SessionOptions) error {
	m, err := opts.Manager(ctx)
	if err != nil {
		return err
	}
	query := opts.Session
	if query == "-" {
		if query, err = previousSession(m.WS.Dir(), m.TargetDir); err != nil {
			return err
		}
	}
	var s *workspace.Session
	err = withProgress(m, opts.IO, opts.Output, "starting "+query, func() (err error) {
		s, err = m.Start(ctx, query)
		return err
	})
	if err != nil {
		return err
	}
	if err := recordStart(m.WS.Dir(), m.TargetDir, s.ID); err != nil {
		warn(opts.IO.Err, "remembering the session for azkeep session start -", err)
	}
	return printOneSession(m, opts.IO, opts.Output, s, fmt.Sprintf("started %s (%s) in %s, access token valid until %s",
		s.SubscriptionName, s.SubscriptionID, s.ConfigDir, s.ExpiresAt.Local().Format(time.RFC3339)))
}

// printOneSession prints a session's JSON view, or the note on stderr.
func printOneSession(m *lifecycle.Manager, streams IO, output string, s *workspace.Session, note string) error {
	if output == "json" {
		st, err := m.WS.Load()
		if err != nil {
			return err
		}
		return writeJSON(streams.Out, sessionView(st, s))
	}
	fmt.Fprintf(streams.Err, "azkeep: %s\n", note)
	return nil
}

// NewCmdSessionStop builds `session stop`.
func NewCmdSessionStop(f *Factory, runF func(context.Context, *SessionOptions) error) *cobra.Command {
	opts := &SessionOptions{IO: f.IO, Manager: f.rotatedManager}
	cmd := &cobra.Command{
		Use:   "stop [SESSION]",
		Short: "Stop the active session (az logout in its config dir)",
		Long: `Stop a session: "az logout" in the config dir it is active in, which empties
the token cache and the profile, and mark it inactive. Without SESSION, the
session active in the Azure CLI's config dir.

` + sessionArgHelp,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Session = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sessionStopRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

func sessionStopRun(ctx context.Context, opts *SessionOptions) error {
	m, err := opts.Manager(ctx)
	if err != nil {
		return err
	}
	wasActive := true
	if opts.Session != "" {
		if st, err := m.WS.Load(); err == nil {
			if s, err := st.Session(opts.Session); err == nil && s.Status == workspace.Inactive {
				wasActive = false
			}
		}
	}
	s, err := m.Stop(ctx, opts.Session)
	if err != nil {
		return err
	}
	note := "stopped "
	if !wasActive {
		note = "not active, nothing to stop: "
	}
	return printOneSession(m, opts.IO, opts.Output, s, note+s.SubscriptionName+" ("+s.SubscriptionID+")")
}

// SessionRotateOptions are the inputs of `session rotate`.
type SessionRotateOptions struct {
	IO      IO
	Manager func() (*lifecycle.Manager, error)
	Session string
	Force   bool
	Output  string
}

// NewCmdSessionRotate builds `session rotate`. It runs no lazy rotation
// first: it is the rotation (rotating twice would spend a refresh grant).
func NewCmdSessionRotate(f *Factory, runF func(context.Context, *SessionRotateOptions) error) *cobra.Command {
	opts := &SessionRotateOptions{IO: f.IO, Manager: f.Manager}
	cmd := &cobra.Command{
		Use:   "rotate [SESSION] [--force]",
		Short: "Renew the active session's access token when it is due",
		Long: `Rotate a session's credentials: when its access token expires within the
rotation window (20 minutes; AZKEEP_ROTATE_WINDOW changes it), or always
with --force, the access token is dropped, the refresh token from the vault
is put back, a new access token is fetched and the refresh token removed
again. Without SESSION, the session active in the Azure CLI's config dir.

Every azkeep command does this first on its own; "azkeep agent" does it in
the background.

` + sessionArgHelp,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Session = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sessionRotateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "rotate even if the access token is not yet inside the window")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func sessionRotateRun(ctx context.Context, opts *SessionRotateOptions) error {
	m, err := opts.Manager()
	if err != nil {
		return err
	}
	var r *lifecycle.RotateResult
	err = withProgress(m, opts.IO, opts.Output, "rotating", func() (err error) {
		r, err = m.Rotate(ctx, opts.Session, opts.Force)
		return err
	})
	if err != nil {
		return err
	}
	note := fmt.Sprintf("rotated %s: access token valid until %s", r.Session.SubscriptionName, r.Session.ExpiresAt.Local().Format(time.RFC3339))
	if !r.Rotated {
		note = fmt.Sprintf("%s needs no rotation yet: access token valid until %s, next rotation at %s (use --force to rotate now)",
			r.Session.SubscriptionName, r.Session.ExpiresAt.Local().Format(time.RFC3339), r.NextRotation.Local().Format(time.RFC3339))
	}
	return printOneSession(m, opts.IO, opts.Output, &r.Session, note)
}

// NewCmdSessionCurrent builds `session current`.
func NewCmdSessionCurrent(f *Factory, runF func(context.Context, *SessionOptions) error) *cobra.Command {
	opts := &SessionOptions{IO: f.IO, Manager: f.rotatedManager}
	cmd := &cobra.Command{
		Use:   "current",
		Short: "Show the session active in the Azure CLI's config dir",
		Long:  "Show the session active in the Azure CLI's config dir; exits 1 when there is none.\n\n" + sessionJSONHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sessionCurrentRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

func sessionCurrentRun(ctx context.Context, opts *SessionOptions) error {
	m, err := opts.Manager(ctx)
	if err != nil {
		return err
	}
	s, err := m.Current()
	if err != nil {
		return err
	}
	if s == nil {
		return noActiveSession(m)
	}
	st, err := m.WS.Load()
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		return writeJSON(opts.IO.Out, sessionView(st, s))
	}
	return printSessions(opts.IO.Out, opts.Output, []SessionView{sessionView(st, s)})
}

func noActiveSession(m *lifecycle.Manager) error {
	return hint.New(fmt.Errorf("no session is active in %s", workspace.CleanDir(m.TargetDir)), "start one with azkeep session start SESSION (azkeep session list shows them)")
}
