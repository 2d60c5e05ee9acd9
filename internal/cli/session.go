package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/workspace"
)

const sessionArgHelp = `SESSION is a subscription name, a subscription id or a session id (see
"azkeep session list"); a name that matches several sessions is refused
with the candidates listed.`

func newSessionCmd(g *Globals) *cobra.Command {
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
		newSessionListCmd(g),
		newSessionStartCmd(g),
		newSessionStopCmd(g),
		newSessionRotateCmd(g),
		newSessionCurrentCmd(g),
	)
	return cmd
}

type sessionListOptions struct {
	Integration string
	Output      string
}

const sessionJSONHelp = `--output json prints objects with the stable fields
id, subscription_id, subscription_name, tenant_id, integration_id,
integration, status (inactive, pending or active), config_dir, started_at
and expires_at (RFC 3339, UTC; omitted when not active).`

func newSessionListCmd(g *Globals) *cobra.Command {
	var o sessionListOptions
	cmd := &cobra.Command{
		Use:     "list [--integration NAME]",
		Aliases: []string{"ls"},
		Short:   "List sessions",
		Long:    "List sessions, one per subscription of every logged-in integration.\n\n" + sessionJSONHelp,
		Args:    cobra.NoArgs,
		RunE: withState(g, func(ctx context.Context, m *lifecycle.Manager, st *workspace.State) error {
			return sessionList(st, g.IO.Out, o)
		}),
	}
	cmd.Flags().StringVar(&o.Integration, "integration", "", "only the sessions of this integration")
	outputFlag(cmd, &o.Output)
	return cmd
}

func sessionList(st *workspace.State, out io.Writer, o sessionListOptions) error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	var only string
	if o.Integration != "" {
		in, err := st.Integration(o.Integration)
		if err != nil {
			return err
		}
		only = in.ID
	}
	var keep func(*workspace.Session) bool
	if only != "" {
		keep = func(s *workspace.Session) bool { return s.IntegrationID == only }
	}
	return printSessionRows(out, o.Output, sessionRowsOf(st, keep))
}

type sessionOptions struct {
	Session string
	Force   bool
	Output  string
}

func newSessionStartCmd(g *Globals) *cobra.Command {
	var o sessionOptions
	cmd := &cobra.Command{
		Use:   "start SESSION",
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

` + sessionArgHelp,
		Example: `  azkeep session start "Pay-As-You-Go"
  azkeep session start 00000000-0000-0000-0000-000000000000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Session = args[0]
			return withManager(g, func(ctx context.Context, m *lifecycle.Manager) error {
				return sessionStart(ctx, m, g.IO, o)
			})(cmd, args)
		},
	}
	outputFlag(cmd, &o.Output)
	return cmd
}

func sessionStart(ctx context.Context, m *lifecycle.Manager, streams IO, o sessionOptions) error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	s, err := m.Start(ctx, o.Session)
	if err != nil {
		return err
	}
	return printOneSession(m, streams, o.Output, s, fmt.Sprintf("started %s (%s) in %s, access token valid until %s",
		s.SubscriptionName, s.SubscriptionID, s.ConfigDir, s.ExpiresAt.Local().Format(time.RFC3339)))
}

func printOneSession(m *lifecycle.Manager, streams IO, output string, s *workspace.Session, note string) error {
	st, err := m.WS.Load()
	if err != nil {
		return err
	}
	if output == "json" {
		return writeJSON(streams.Out, sessionView(st, s))
	}
	fmt.Fprintf(streams.Err, "azkeep: %s\n", note)
	return nil
}

func newSessionStopCmd(g *Globals) *cobra.Command {
	var o sessionOptions
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
				o.Session = args[0]
			}
			return withManager(g, func(ctx context.Context, m *lifecycle.Manager) error {
				note := "stopped "
				if o.Session != "" {
					if st, err := m.WS.Load(); err == nil {
						if s, err := st.Session(o.Session); err == nil && s.Status == workspace.Inactive {
							note = "not active, nothing to stop: "
						}
					}
				}
				s, err := m.Stop(ctx, o.Session)
				if err != nil {
					return err
				}
				return printOneSession(m, g.IO, o.Output, s, note+s.SubscriptionName+" ("+s.SubscriptionID+")")
			})(cmd, args)
		},
	}
	outputFlag(cmd, &o.Output)
	return cmd
}

func newSessionRotateCmd(g *Globals) *cobra.Command {
	var o sessionOptions
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
				o.Session = args[0]
			}
			// No lazy rotation first: this command is the rotation.
			d, err := newDeps(g)
			if err != nil {
				return err
			}
			m, err := d.bare()
			if err != nil {
				return err
			}
			ctx, stop := commandContext(cmd)
			defer stop()
			return sessionRotate(ctx, m, g.IO, o)
		},
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "rotate even if the access token is not yet inside the window")
	outputFlag(cmd, &o.Output)
	return cmd
}

func sessionRotate(ctx context.Context, m *lifecycle.Manager, streams IO, o sessionOptions) error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	r, err := m.Rotate(ctx, o.Session, o.Force)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("rotated %s: access token valid until %s", r.Session.SubscriptionName, r.Session.ExpiresAt.Local().Format(time.RFC3339))
	if !r.Rotated {
		note = fmt.Sprintf("%s needs no rotation yet: access token valid until %s, next rotation at %s (use --force to rotate now)",
			r.Session.SubscriptionName, r.Session.ExpiresAt.Local().Format(time.RFC3339), r.NextRotation.Local().Format(time.RFC3339))
	}
	return printOneSession(m, streams, o.Output, &r.Session, note)
}

func newSessionCurrentCmd(g *Globals) *cobra.Command {
	var o sessionOptions
	cmd := &cobra.Command{
		Use:   "current",
		Short: "Show the session active in the Azure CLI's config dir",
		Long:  "Show the session active in the Azure CLI's config dir; exits 1 when there is none.\n\n" + sessionJSONHelp,
		Args:  cobra.NoArgs,
		RunE: withManager(g, func(ctx context.Context, m *lifecycle.Manager) error {
			if err := checkOutput(o.Output); err != nil {
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
			if o.Output == "json" {
				return writeJSON(g.IO.Out, sessionView(st, s))
			}
			return printSessions(g.IO.Out, o.Output, []SessionView{sessionView(st, s)})
		}),
	}
	outputFlag(cmd, &o.Output)
	return cmd
}

func noActiveSession(m *lifecycle.Manager) error {
	return hint.New(fmt.Errorf("no session is active in %s", workspace.CleanDir(m.TargetDir)), "start one with azkeep session start SESSION (azkeep session list shows them)")
}
