package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/hint"
)

// emulatorOptions are the flags of azkeep emulator.
type emulatorOptions struct {
	Tenants       int
	Subscriptions int
	Users         int
	TokenLifetime time.Duration
	StrictRefresh bool
	DevicePolls   int
	Addr          string
	CADir         string
	Output        string
	Quiet         bool
	Trace         bool
	Seed          int64
}

func newEmulatorCmd(g *Globals) *cobra.Command {
	opts := emulatorOptions{}
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Serve an Entra ID + Azure Resource Manager emulator for az, azkeep and your scripts",
		Long: `Serve an emulator of Entra ID and Azure Resource Manager on 127.0.0.1 until
Ctrl-C (SIGINT) or SIGTERM. It is an HTTPS proxy: point HTTPS_PROXY at it and
trust its CA (REQUESTS_CA_BUNDLE for az, SSL_CERT_FILE for Go) and the real
Azure CLI runs unchanged against login.microsoftonline.com and
management.azure.com, answered by the emulator. Every other host is refused;
nothing leaves the machine.

The first lines of stdout are the shell lines to evaluate in another shell,
followed by the emulated tenants, users (with passwords) and subscriptions.
With --output json the first line is one JSON object:
  {"env": {"HTTPS_PROXY": …, "REQUESTS_CA_BUNDLE": …, "SSL_CERT_FILE": …},
   "tenants": [{"id": …, "domain": …, "users": [{"username": …, "password": …}],
                "subscriptions": [{"id": …, "name": …}]}]}
The request log (never a secret) goes to stderr. Test controls (revoke a
user, require MFA, add/rename/disable/remove subscriptions, faults, latency)
are served at <proxy>/_emulator/…; see docs/testing.md.`,
		Example: `  azkeep emulator --tenants 2 --token-lifetime 10m
  # in another shell, with the lines it printed:
  export AZURE_CONFIG_DIR=$(mktemp -d) AZURE_CORE_COLLECT_TELEMETRY=false
  az login --use-device-code --tenant <tenant id>`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runEmulator(ctx, opts, g.IO)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Tenants, "tenants", 1, "number of tenants")
	f.IntVar(&opts.Subscriptions, "subscriptions", 2, "subscriptions per tenant")
	f.IntVar(&opts.Users, "users", 1, "users per tenant")
	f.DurationVar(&opts.TokenLifetime, "token-lifetime", time.Hour, "access token lifetime (az treats less than 5m left as expired)")
	f.BoolVar(&opts.StrictRefresh, "strict-refresh", false, "single-use refresh tokens: a redeemed one is rejected")
	f.IntVar(&opts.DevicePolls, "device-polls", 1, "pending answers before a device code is approved")
	f.StringVar(&opts.Addr, "addr", "127.0.0.1:0", "loopback address to listen on")
	f.StringVar(&opts.CADir, "ca-dir", "", "dir to write the CA certificate to (default: a temp dir removed on exit)")
	f.StringVarP(&opts.Output, "output", "o", "text", "output format: text or json")
	f.BoolVarP(&opts.Quiet, "quiet", "q", false, "do not log requests to stderr")
	f.BoolVar(&opts.Trace, "trace", false, "also log each request's headers and form fields (secret values redacted)")
	f.Int64Var(&opts.Seed, "seed", 0, "non-zero: the same tenant, user and subscription ids and passwords on every run")
	return cmd
}

// runEmulator serves until ctx is done.
func runEmulator(ctx context.Context, opts emulatorOptions, streams IO) error {
	if opts.Output != "text" && opts.Output != "json" {
		return &usageError{hint.New(fmt.Errorf("unknown output format %q", opts.Output), "use --output text or --output json")}
	}
	if opts.Tenants < 1 || opts.Subscriptions < 0 || opts.Users < 1 || opts.DevicePolls < 0 {
		return &usageError{hint.New(fmt.Errorf("--tenants and --users must be at least 1, --subscriptions and --device-polls at least 0"), "see azkeep emulator --help")}
	}
	if opts.TokenLifetime < time.Minute {
		return &usageError{hint.New(fmt.Errorf("--token-lifetime %v is too short", opts.TokenLifetime), "use at least 1m; az treats tokens with less than 5m left as expired, so 6m or more is practical")}
	}
	cfg := entraemu.Config{
		Tenants:                opts.Tenants,
		SubscriptionsPerTenant: opts.Subscriptions,
		UsersPerTenant:         opts.Users,
		TokenLifetime:          opts.TokenLifetime,
		StrictRefresh:          opts.StrictRefresh,
		DevicePolls:            opts.DevicePolls,
		Addr:                   opts.Addr,
		Dir:                    opts.CADir,
		Seed:                   opts.Seed,
		Trace:                  opts.Trace && !opts.Quiet,
	}
	if opts.Subscriptions == 0 {
		cfg.SubscriptionsPerTenant = -1 // none
	}
	if !opts.Quiet {
		cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(streams.Err, strings.TrimPrefix(format, "entraemu: ")+"\n", args...)
		}
	}
	emu, err := entraemu.Start(cfg)
	if err != nil {
		return hint.New(fmt.Errorf("cannot start the emulator: %w", err), "pass a free loopback address with --addr, e.g. 127.0.0.1:0")
	}
	defer emu.Close()

	info := emu.Snapshot()
	if opts.Output == "json" {
		b, err := json.Marshal(info)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(streams.Out, "%s\n", b); err != nil {
			return err
		}
	} else {
		printEmulatorText(streams.Out, info)
	}
	fmt.Fprintf(streams.Err, "azkeep: emulator serving on %s; Ctrl-C to stop\n", emu.ProxyURL())
	<-ctx.Done()
	fmt.Fprintln(streams.Err, "azkeep: emulator stopped")
	return nil
}

// shellQuote quotes s for POSIX shells.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func printEmulatorText(w io.Writer, info entraemu.Snapshot) {
	for _, k := range []string{"HTTPS_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"} {
		fmt.Fprintf(w, "export %s=%s\n", k, shellQuote(info.Env[k]))
	}
	fmt.Fprintln(w, "# then, in a throwaway config dir:")
	fmt.Fprintln(w, "#   export AZURE_CONFIG_DIR=\"$(mktemp -d)\" AZURE_CORE_COLLECT_TELEMETRY=false")
	for _, t := range info.Tenants {
		fmt.Fprintf(w, "# tenant %s (%s)\n", t.ID, t.Domain)
		for _, u := range t.Users {
			fmt.Fprintf(w, "#   user %s password %s\n", u.Username, u.Password)
		}
		for _, sp := range t.ServicePrincipals {
			fmt.Fprintf(w, "#   service principal %s secret %s\n", sp.AppID, sp.Secret)
		}
		for _, s := range t.Subscriptions {
			fmt.Fprintf(w, "#   subscription %s %s\n", s.ID, s.Name)
		}
		fmt.Fprintf(w, "#   az login --use-device-code --tenant %s\n", t.ID)
	}
	fmt.Fprintf(w, "# control API (revoke, faults, subscriptions …): %s/state\n", info.ControlURL)
}
