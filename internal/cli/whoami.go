package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/tui"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// inUse is the session az uses right now in this process's environment.
type inUse struct {
	Session     *workspace.Session
	Integration *workspace.Integration
	// ConfigDir is the config dir az reads.
	ConfigDir string
	// ExpiresAt is its ARM access token's expiry (zero: unknown, inside
	// an exec, whose tokens azkeep renews as the child runs).
	ExpiresAt time.Time
	// Source says how it was found: "config-dir" or SessionEnv.
	Source string
}

// sessionInUse finds what az uses: inside azkeep exec or a shell set up by
// azkeep env, the session $AZKEEP_SESSION names (az reads that process's
// own AZURE_CONFIG_DIR); else the session active in the config dir. nil
// when neither names a known session. It reads files only: the prompt
// calls it on every shell prompt.
func sessionInUse(st *workspace.State, sessionEnv, configDir string) *inUse {
	u := &inUse{ConfigDir: workspace.CleanDir(configDir)}
	if sessionEnv != "" {
		u.Session, u.Source = st.SessionByID(sessionEnv), SessionEnv
		if u.Session == nil {
			return nil
		}
		if m, err := sessiondir.ReadMarker(u.ConfigDir); err == nil && m.SessionID == sessionEnv {
			u.ExpiresAt = m.ExpiresAt
		}
	} else {
		u.Session, u.Source = st.ActiveIn(configDir), "config-dir"
		if u.Session == nil {
			return nil
		}
		u.ExpiresAt = u.Session.ExpiresAt
	}
	u.Integration = st.IntegrationByID(u.Session.IntegrationID)
	if u.Integration == nil {
		u.Integration = &workspace.Integration{ID: u.Session.IntegrationID, Alias: u.Session.IntegrationID}
	}
	return u
}

// WhoamiView is the stable JSON shape of `azkeep whoami --output json`.
type WhoamiView struct {
	SessionID        string `json:"session_id"`
	Integration      string `json:"integration"`
	SubscriptionID   string `json:"subscription_id"`
	SubscriptionName string `json:"subscription_name"`
	TenantID         string `json:"tenant_id"`
	Tenant           string `json:"tenant"`
	User             string `json:"user,omitempty"`
	ConfigDir        string `json:"config_dir"`
	// Source is "config-dir" (the session active there) or AZKEEP_SESSION
	// (inside azkeep exec or a shell set up by azkeep env).
	Source string `json:"source"`
	// ExpiresAt is RFC 3339 UTC, omitted when unknown (inside an exec).
	ExpiresAt string `json:"expires_at,omitempty"`
	Engine    string `json:"engine"`
	Vault     string `json:"vault"`
}

// WhoamiOptions are the inputs of `whoami`.
type WhoamiOptions struct {
	IO    IO
	State func(context.Context) (*workspace.State, error)
	// ConfigDir, Engine and Vault are the resolved globals.
	Globals    func() *Globals
	SessionEnv string
	Now        func() time.Time
	Output     string
}

// NewCmdWhoami builds `whoami`.
func NewCmdWhoami(f *Factory, runF func(context.Context, *WhoamiOptions) error) *cobra.Command {
	opts := &WhoamiOptions{IO: f.IO, State: f.RotatedState, Globals: func() *Globals { return f.Globals }, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show what az uses right now: session, subscription, tenant, user, time left",
		Long: `Show the session az uses right now: inside "azkeep exec" or a shell set up
by "azkeep env", the one AZKEEP_SESSION names; else the session active in
the Azure CLI's config dir. Exits 1 when there is none.

--output json prints an object with the stable fields session_id,
integration, subscription_id, subscription_name, tenant_id, tenant, user,
config_dir, source (config-dir or AZKEEP_SESSION), expires_at (omitted
when unknown), engine and vault.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.SessionEnv = os.Getenv(SessionEnv)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return whoamiRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

func whoamiRun(ctx context.Context, opts *WhoamiOptions) error {
	st, err := opts.State(ctx)
	if err != nil {
		return err
	}
	g := opts.Globals()
	u := sessionInUse(st, opts.SessionEnv, g.ConfigDir)
	if u == nil {
		if opts.SessionEnv != "" {
			return hint.New(fmt.Errorf("%s=%s names no session azkeep knows", SessionEnv, opts.SessionEnv), "leave this shell (or run azkeep env --unset) and start again")
		}
		return hint.New(fmt.Errorf("no session is active in %s", workspace.CleanDir(g.ConfigDir)), "start one with azkeep session start SESSION (azkeep session list shows them)")
	}
	s, in := u.Session, u.Integration
	v := WhoamiView{
		SessionID: s.ID, Integration: in.Alias, SubscriptionID: s.SubscriptionID, SubscriptionName: s.SubscriptionName,
		TenantID: s.TenantID, Tenant: in.Tenant, User: in.Username, ConfigDir: u.ConfigDir, Source: u.Source,
		Engine: g.Engine, Vault: vault.Resolve(g.Vault, g.Home),
	}
	left := "unknown (renewed by azkeep exec)"
	if !u.ExpiresAt.IsZero() {
		v.ExpiresAt = u.ExpiresAt.UTC().Format(time.RFC3339)
		left = fmt.Sprintf("%s (access token until %s)", tui.TimeLeft(u.ExpiresAt, opts.Now()), u.ExpiresAt.Local().Format(time.RFC3339))
	}
	if opts.Output == "json" {
		return writeJSON(opts.IO.Out, v)
	}
	tw := newTable(opts.IO.Out)
	fmt.Fprintf(tw, "session:\t%s/%s (%s)\n", in.Alias, s.SubscriptionName, s.ID)
	fmt.Fprintf(tw, "subscription:\t%s\n", s.SubscriptionID)
	fmt.Fprintf(tw, "tenant:\t%s (%s)\n", dash(s.TenantID), in.Tenant)
	fmt.Fprintf(tw, "user:\t%s\n", dash(in.Username))
	fmt.Fprintf(tw, "time left:\t%s\n", left)
	fmt.Fprintf(tw, "config dir:\t%s (%s)\n", u.ConfigDir, u.Source)
	fmt.Fprintf(tw, "engine:\t%s\n", v.Engine)
	fmt.Fprintf(tw, "vault:\t%s\n", v.Vault)
	return tw.Flush()
}
