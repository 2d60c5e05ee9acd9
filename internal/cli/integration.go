package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/workspace"
)

func newCmdIntegration(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "integration",
		Aliases: []string{"integrations", "int"},
		Short:   "Manage integrations: the Entra ID tenants you log in to",
		Long: `An integration is one Entra ID tenant you sign in to with the Azure CLI.

  azkeep integration create --alias contoso --tenant contoso.onmicrosoft.com --location westeurope
  azkeep integration login contoso            # browser; add --device-code on a headless machine
  azkeep session list                         # one session per subscription of the tenant

Login runs "az login" in a private, throwaway config dir, moves the refresh
token, the account and the profile into the vault, and makes one session per
subscription. Your Azure CLI config dir is not touched until you start a
session.`,
	}
	cmd.AddCommand(
		NewCmdIntegrationCreate(f, nil),
		NewCmdIntegrationEdit(f, nil),
		NewCmdIntegrationList(f, nil),
		NewCmdIntegrationLogin(f, nil),
		NewCmdIntegrationSync(f, nil),
		NewCmdIntegrationLogout(f, nil),
		NewCmdIntegrationDelete(f, nil),
		NewCmdIntegrationExport(f, nil),
		NewCmdIntegrationImport(f, nil),
	)
	return cmd
}

// managerFunc gives a command the lifecycle manager, after lazy rotation.
type managerFunc func(context.Context) (*lifecycle.Manager, error)

func (f *Factory) rotatedManager(ctx context.Context) (*lifecycle.Manager, error) {
	m, _, err := f.Rotated(ctx)
	return m, err
}

// IntegrationCreateOptions are the inputs of `integration create`.
type IntegrationCreateOptions struct {
	IO        IO
	Manager   managerFunc
	Alias     string
	Tenant    string
	Location  string
	Resources []string
	// NoDefaultResources and SkipResources change the default resources
	// (lifecycle.DefaultResources).
	NoDefaultResources bool
	SkipResources      []string
	Output             string
}

// NewCmdIntegrationCreate builds `integration create`; runF (nil: the real
// work) receives the parsed options.
func NewCmdIntegrationCreate(f *Factory, runF func(context.Context, *IntegrationCreateOptions) error) *cobra.Command {
	opts := &IntegrationCreateOptions{IO: f.IO, Manager: f.rotatedManager}
	cmd := &cobra.Command{
		Use:   "create --alias NAME --tenant TENANT [--location LOCATION]",
		Short: "Add an integration (no login yet)",
		Long: `Add an integration for one Entra ID tenant.

TENANT is the tenant id (a GUID) or one of its domains, e.g.
contoso.onmicrosoft.com. LOCATION, when given, becomes the Azure CLI's
default location ([defaults] location in its config) whenever a session of
this integration is started. Log in afterwards with
"azkeep integration login NAME".`,
		Example: `  azkeep integration create --alias contoso --tenant contoso.onmicrosoft.com
  azkeep integration create --alias lab --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --location westeurope`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return integrationCreateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Alias, "alias", "", "name for the integration (letters, digits, . _ -)")
	cmd.Flags().StringVar(&opts.Tenant, "tenant", "", "tenant id (GUID) or domain")
	cmd.Flags().StringVar(&opts.Location, "location", "", "default Azure location for its sessions, e.g. westeurope")
	cmd.Flags().StringSliceVar(&opts.Resources, "resource", nil, "also fetch tokens for this resource on start and rotation, e.g. https://cosmos.azure.com (repeatable)")
	resourceFlags(cmd, &opts.NoDefaultResources, &opts.SkipResources)
	outputFlag(cmd, &opts.Output)
	_ = cmd.MarkFlagRequired("alias")
	_ = cmd.MarkFlagRequired("tenant")
	return cmd
}

func integrationCreateRun(ctx context.Context, opts *IntegrationCreateOptions) error {
	m, err := opts.Manager(ctx)
	if err != nil {
		return err
	}
	defaults := !opts.NoDefaultResources
	in, err := m.CreateIntegration(ctx, lifecycle.IntegrationSpec{Alias: opts.Alias, Tenant: opts.Tenant, Location: opts.Location,
		Resources: opts.Resources, DefaultResources: &defaults, SkipResources: opts.SkipResources})
	if err != nil {
		return err
	}
	return printIntegration(m, opts.IO, opts.Output, in,
		fmt.Sprintf("created integration %s (id %s); log in with: azkeep integration login %s", in.Alias, in.ID, in.Alias))
}

// printIntegration prints one integration: its JSON view, or the sentence.
func printIntegration(m *lifecycle.Manager, streams IO, output string, in *workspace.Integration, sentence string) error {
	if output == "json" {
		st, err := m.WS.Load()
		if err != nil {
			return err
		}
		return writeJSON(streams.Out, integrationView(st, in))
	}
	_, err := fmt.Fprintln(streams.Out, sentence)
	return err
}

// IntegrationEditOptions are the inputs of `integration edit`.
type IntegrationEditOptions struct {
	IO        IO
	Manager   managerFunc
	Name      string
	Alias     string
	Tenant    string
	Location  string
	Resources []string
	// DefaultResources (nil: unchanged) and SkipResources (nil:
	// unchanged) change the default resources.
	DefaultResources *bool
	SkipResources    []string
	Output           string
}

// NewCmdIntegrationEdit builds `integration edit`.
func NewCmdIntegrationEdit(f *Factory, runF func(context.Context, *IntegrationEditOptions) error) *cobra.Command {
	opts := &IntegrationEditOptions{IO: f.IO, Manager: f.rotatedManager}
	cmd := &cobra.Command{
		Use:   "edit NAME [--alias A] [--tenant T] [--location L]",
		Short: "Change an integration's alias, tenant or location",
		Long: `Change an integration. The tenant of a logged-in integration cannot change:
log it out first. A new location applies from the next session start.`,
		Example: `  azkeep integration edit contoso --location northeurope`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return integrationEditRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Alias, "alias", "", "new name")
	cmd.Flags().StringVar(&opts.Tenant, "tenant", "", "new tenant id or domain (logged-out integrations only)")
	cmd.Flags().StringVar(&opts.Location, "location", "", "new default location")
	cmd.Flags().StringSliceVar(&opts.Resources, "resource", nil, "replace the extra resources to fetch tokens for (repeatable)")
	var noDefaults bool
	resourceFlags(cmd, &noDefaults, &opts.SkipResources)
	cmd.PreRun = func(cmd *cobra.Command, _ []string) {
		if cmd.Flags().Changed("no-default-resources") {
			on := !noDefaults
			opts.DefaultResources = &on
		}
		if cmd.Flags().Changed("skip-resource") && opts.SkipResources == nil {
			opts.SkipResources = []string{}
		}
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

// resourceFlags adds the flags that change an integration's default
// resources.
func resourceFlags(cmd *cobra.Command, noDefaults *bool, skip *[]string) {
	cmd.Flags().BoolVar(noDefaults, "no-default-resources", false, "fetch no default resources (ARM under management.azure.com, Key Vault, Graph, Storage), only ARM and --resource")
	cmd.Flags().StringSliceVar(skip, "skip-resource", nil, "leave this default resource out, e.g. https://storage.azure.com (repeatable)")
}

func integrationEditRun(ctx context.Context, opts *IntegrationEditOptions) error {
	m, err := opts.Manager(ctx)
	if err != nil {
		return err
	}
	in, err := m.EditIntegration(ctx, opts.Name, lifecycle.IntegrationSpec{Alias: opts.Alias, Tenant: opts.Tenant, Location: opts.Location,
		Resources: opts.Resources, DefaultResources: opts.DefaultResources, SkipResources: opts.SkipResources})
	if err != nil {
		return err
	}
	return printIntegration(m, opts.IO, opts.Output, in, fmt.Sprintf("updated integration %s (id %s)", in.Alias, in.ID))
}

// IntegrationListOptions are the inputs of `integration list`.
type IntegrationListOptions struct {
	IO     IO
	State  func(context.Context) (*workspace.State, error)
	Output string
}

// NewCmdIntegrationList builds `integration list`.
func NewCmdIntegrationList(f *Factory, runF func(context.Context, *IntegrationListOptions) error) *cobra.Command {
	opts := &IntegrationListOptions{IO: f.IO, State: f.RotatedState}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List integrations and their status",
		Long: `List integrations. STATUS is one of:
  online       logged in; the vault holds its refresh token, account and profile
  offline      never logged in, or logged out
  needs-login  the token endpoint rejected its refresh token (expired, revoked,
               MFA required): run azkeep integration login NAME

--output json prints an array of objects with the stable fields
id, alias, tenant, tenant_id, location, cloud, status, username, sessions.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return integrationListRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

func integrationListRun(ctx context.Context, opts *IntegrationListOptions) error {
	st, err := opts.State(ctx)
	if err != nil {
		return err
	}
	views := make([]IntegrationView, 0, len(st.Integrations))
	for i := range st.Integrations {
		views = append(views, integrationView(st, &st.Integrations[i]))
	}
	if opts.Output == "json" {
		return writeJSON(opts.IO.Out, views)
	}
	tw := newTable(opts.IO.Out)
	fmt.Fprintln(tw, "ALIAS\tTENANT\tTENANT ID\tLOCATION\tSTATUS\tSESSIONS\tID")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", v.Alias, v.Tenant, dash(v.TenantID), dash(v.Location), v.Status, v.Sessions, v.ID)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// IntegrationLoginOptions are the inputs of `integration login` and `sync`.
type IntegrationLoginOptions struct {
	IO         IO
	Manager    managerFunc
	Name       string
	DeviceCode bool
	// Sync re-reads the subscriptions without an interactive login.
	Sync   bool
	Output string
}

// NewCmdIntegrationLogin builds `integration login`.
func NewCmdIntegrationLogin(f *Factory, runF func(context.Context, *IntegrationLoginOptions) error) *cobra.Command {
	opts := &IntegrationLoginOptions{IO: f.IO, Manager: f.rotatedManager}
	cmd := &cobra.Command{
		Use:   "login NAME [--device-code]",
		Short: "Log in to the integration's tenant and sync its subscriptions",
		Long: `Log in to the integration's tenant with "az login" and make one session per
subscription:

  1. a fresh private Azure CLI config dir (0700) is made, with copies of your
     config and clouds.config; your own config dir is not touched;
  2. az login --tenant TENANT runs there (a browser, or with --device-code a
     code to enter at https://microsoft.com/devicelogin);
  3. every subscription of the tenant becomes a session; on a re-login renamed
     subscriptions keep their session id, vanished ones are stopped and
     removed, new ones are added;
  4. the refresh token, the account and the profile go into the vault;
  5. the private dir is removed.

With --engine native, step 2 is azkeep's own device-code sign-in and az is
not needed (sync still asks az).

The sessions are printed as "azkeep session list" prints them (--output json:
the same stable fields).`,
		Example: `  azkeep integration login contoso
  azkeep integration login contoso --device-code   # on a machine without a browser`,
		Args: oneArgOrPick(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Name, err = f.integrationArg(args, "log in to an integration"); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return integrationLoginRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DeviceCode, "device-code", false, "log in with a device code instead of a browser")
	outputFlag(cmd, &opts.Output)
	return cmd
}

// NewCmdIntegrationSync builds `integration sync`.
func NewCmdIntegrationSync(f *Factory, runF func(context.Context, *IntegrationLoginOptions) error) *cobra.Command {
	opts := &IntegrationLoginOptions{IO: f.IO, Manager: f.rotatedManager, Sync: true}
	cmd := &cobra.Command{
		Use:   "sync NAME",
		Short: "Re-read the integration's subscriptions, without a new login",
		Long: `Re-read the integration's subscriptions without asking you to sign in: in a
fresh private config dir (removed afterwards) azkeep writes the account and
refresh token from the vault and runs "az account list --refresh", which
asks Azure for the tenant's subscriptions again. Sessions are re-synced as
on login: renamed subscriptions keep their session id, vanished ones are
stopped and removed, new ones are added. The refresh token az rotated goes
back to the vault.

If the refresh token is rejected the integration is marked needs-login:
run "azkeep integration login NAME".`,
		Example: "  azkeep integration sync contoso",
		Args:    oneArgOrPick(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Name, err = f.integrationArg(args, "sync an integration"); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return integrationLoginRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

func integrationLoginRun(ctx context.Context, opts *IntegrationLoginOptions) error {
	m, err := opts.Manager(ctx)
	if err != nil {
		return err
	}
	var rep *lifecycle.LoginReport
	if opts.Sync {
		err = withProgress(m, opts.IO, opts.Output, "syncing "+opts.Name, func() (err error) {
			rep, err = m.Sync(ctx, opts.Name)
			return err
		})
	} else {
		err = withProgress(m, opts.IO, opts.Output, "logging in to "+opts.Name, func() (err error) {
			rep, err = m.Login(ctx, opts.Name, lifecycle.LoginOptions{DeviceCode: opts.DeviceCode})
			return err
		})
	}
	if err != nil {
		return err
	}
	st, err := m.WS.Load()
	if err != nil {
		return err
	}
	views := make([]SessionView, 0, len(rep.Sessions))
	for i := range rep.Sessions {
		views = append(views, sessionView(st, &rep.Sessions[i]))
	}
	if opts.Output == "json" {
		return writeJSON(opts.IO.Out, views)
	}
	sy := rep.Sync
	verb := "logged in to"
	if opts.Sync {
		verb = "synced"
	}
	fmt.Fprintf(opts.IO.Err, "azkeep: %s %s as %s: %d sessions (%d new, %d renamed, %d removed)\n",
		verb, rep.Integration.Alias, dash(rep.Integration.Username), len(rep.Sessions), len(sy.Added), len(sy.Renamed), len(sy.Removed))
	return printSessions(opts.IO.Out, "table", views)
}

// IntegrationNameOptions are the inputs of `integration logout` and `delete`.
type IntegrationNameOptions struct {
	IO      IO
	Manager managerFunc
	Name    string
}

// NewCmdIntegrationLogout builds `integration logout`.
func NewCmdIntegrationLogout(f *Factory, runF func(context.Context, *IntegrationNameOptions) error) *cobra.Command {
	opts := &IntegrationNameOptions{IO: f.IO, Manager: f.rotatedManager}
	return &cobra.Command{
		Use:   "logout NAME",
		Short: "Stop its sessions, delete its secrets from the vault, forget its sessions",
		Long: `Log an integration out: its active sessions are stopped (az logout in their
config dir), its refresh token, account and profile are deleted from the
vault, its sessions are removed, and it is marked offline. The integration
itself stays; "azkeep integration login NAME" brings it back.`,
		Args: oneArgOrPick(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if opts.Name, err = f.integrationArg(args, "log out of an integration"); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return integrationLogoutRun(cmd.Context(), opts)
		},
	}
}

func integrationLogoutRun(ctx context.Context, opts *IntegrationNameOptions) error {
	m, err := opts.Manager(ctx)
	if err != nil {
		return err
	}
	in, err := m.Logout(ctx, opts.Name)
	if err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Err, "azkeep: logged out of %s\n", in.Alias)
	return nil
}

// NewCmdIntegrationDelete builds `integration delete`.
func NewCmdIntegrationDelete(f *Factory, runF func(context.Context, *IntegrationNameOptions) error) *cobra.Command {
	opts := &IntegrationNameOptions{IO: f.IO, Manager: f.rotatedManager}
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Log the integration out and remove it",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return integrationDeleteRun(cmd.Context(), opts)
		},
	}
}

func integrationDeleteRun(ctx context.Context, opts *IntegrationNameOptions) error {
	m, err := opts.Manager(ctx)
	if err != nil {
		return err
	}
	if err := m.Delete(ctx, opts.Name); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Err, "azkeep: deleted integration %s\n", strings.TrimSpace(opts.Name))
	return nil
}
