package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/childproc"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/vault"
)

// DemoOptions are the inputs of `demo`.
type DemoOptions struct {
	IO IO
	// AZ is the Azure CLI the demo runs (its path is looked up).
	AZ func() *azcli.Runner
	// Keep leaves the temp dir in place for inspection.
	Keep bool
	// Subscriptions is how many subscriptions the emulated tenant has.
	Subscriptions int
	// Engine is the token engine ("az" or "native", from --engine).
	Engine string
}

// NewCmdDemo builds `demo`.
func NewCmdDemo(f *Factory, runF func(context.Context, *DemoOptions) error) *cobra.Command {
	opts := &DemoOptions{IO: f.IO, AZ: f.AZ}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole procedure against an embedded Entra ID emulator",
		Long: `Run the seed's whole procedure with the real Azure CLI against an Entra ID
and Azure Resource Manager emulator built into azkeep, in a temporary
azkeep home and Azure CLI config dir: nothing of yours is read or changed,
and nothing goes over the network (az reaches the emulator through a proxy
on 127.0.0.1 that holds its own certificate authority).

Steps: start the emulator; create an integration; log in by device code
(the emulator approves it); list the sessions; start one; az account show
and az account get-access-token through it (the token comes from the cache,
no request is made); check that no refresh token is on disk; rotate; stop.
Each step prints its duration and a verdict; the exit status is 0 only if
every step passed.

With the Azure CLI (az 2.30 or newer, on PATH or in AZKEEP_AZ) the login is
az login and az itself checks the session. Without it the demo runs on the
native engine (azkeep's own device-code login and refresh grant, writing the
files az writes) and shows those files instead; --engine native does the
same with az still checking the result.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Engine = f.Globals.Engine
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return demoRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Keep, "keep", false, "keep the temporary home and config dir for inspection")
	cmd.Flags().IntVar(&opts.Subscriptions, "subscriptions", 3, "number of subscriptions in the emulated tenant")
	return cmd
}

// demo is the running demo: its dirs, emulator, manager and report.
type demo struct {
	out    io.Writer
	root   string
	target string
	emu    *entraemu.Emulator
	env    []string
	// f is the demo's own factory: the production wiring on a throwaway
	// home, the memory vault and the emulator's environment.
	f      *Factory
	m      *lifecycle.Manager
	vault  vault.Store
	azPath string
	runner *azcli.Runner // nil without az: the native path
	engine string
	failed int
	steps  int
	start  time.Time
}

// run runs az non-interactively in dir with the demo's environment.
func (d *demo) run(ctx context.Context, dir string, args ...string) (stdout, stderr string, err error) {
	res, err := d.runner.Run(ctx, azcli.Call{Args: args, ConfigDir: dir})
	return string(res.Stdout), res.Stderr, err
}

// step runs fn, timing it, and prints its verdict.
func (d *demo) step(name string, fn func() (string, error)) bool {
	d.steps++
	t0 := time.Now()
	detail, err := fn()
	took := time.Since(t0)
	verdict := "ok  "
	if err != nil {
		verdict = "FAIL"
		d.failed++
		detail = err.Error()
	}
	fmt.Fprintf(d.out, "  %s %6.2fs  %s", verdict, took.Seconds(), name)
	switch {
	case strings.HasPrefix(detail, "\n"):
		fmt.Fprint(d.out, detail)
	case detail != "":
		fmt.Fprintf(d.out, ": %s", detail)
	}
	fmt.Fprintln(d.out)
	if err != nil {
		if h := hint.Of(err); h != "" {
			fmt.Fprintf(d.out, "                hint: %s\n", h)
		}
	}
	return err == nil
}

func demoRun(ctx context.Context, o *DemoOptions) (err error) {
	out := o.IO.Out
	// az missing: the native engine does the procedure, and the demo says
	// what az would add.
	azPath, err := o.AZ().Path()
	if err != nil {
		azPath = ""
		o.Engine = "native"
	}
	if o.Engine == "" {
		o.Engine = "az"
	}
	root, err := os.MkdirTemp("", "azkeep-demo-")
	if err != nil {
		return err
	}
	if o.Keep {
		defer fmt.Fprintf(out, "\nkept %s for inspection (remove it when done)\n", root)
	} else {
		defer os.RemoveAll(root)
	}
	d := &demo{out: out, root: root, target: filepath.Join(root, "azure"), azPath: azPath, engine: o.Engine, start: time.Now()}

	if azPath != "" {
		fmt.Fprintf(out, "azkeep demo: the seed's procedure with the real Azure CLI against the embedded emulator (engine %s)\n", o.Engine)
	} else {
		fmt.Fprintf(out, "azkeep demo: the seed's procedure with azkeep's native engine against the embedded emulator\n")
		fmt.Fprintf(out, "  the Azure CLI is not installed: azkeep logs in and redeems tokens itself and shows the files az would read\n")
		fmt.Fprintf(out, "  (%s; on Debian or Ubuntu: sudo apt-get install azure-cli)\n", azcli.InstallHint)
	}
	fmt.Fprintf(out, "  azkeep home  %s\n  config dir   %s  (AZURE_CONFIG_DIR for every az call)\n\n", filepath.Join(root, "home"), d.target)

	ok := d.step("start the Entra ID + ARM emulator", func() (string, error) {
		subs := o.Subscriptions
		if subs <= 0 {
			subs = 3
		}
		emu, err := entraemu.Start(entraemu.Config{Tenants: 1, SubscriptionsPerTenant: subs, StrictRefresh: true, Dir: filepath.Join(root, "emulator")})
		if err != nil {
			return "", err
		}
		d.emu = emu
		d.env = demoEnv(emu)
		tn := emu.Tenants()[0]
		return fmt.Sprintf("tenant %s (%s), %d subscriptions, single-use refresh tokens, proxy %s", tn.Domain, tn.ID, len(tn.Subscriptions), emu.Addr()), nil
	})
	if d.emu != nil {
		defer d.emu.Close()
	}
	if ok {
		ok = d.step("prepare a throwaway home, vault and config dir", func() (string, error) { return d.prepare(ctx) })
	}
	if ok && d.azPath != "" {
		ok = d.step("check the Azure CLI", func() (string, error) { return d.checkAZ(ctx) })
	}
	if ok {
		d.scenario(ctx)
	}
	total := time.Since(d.start)
	if d.failed > 0 {
		fmt.Fprintf(out, "\nFAIL  azkeep demo: %d of %d steps failed (%.1fs)\n", d.failed, d.steps, total.Seconds())
		return &childproc.ExitError{Code: ExitError}
	}
	if d.azPath == "" {
		fmt.Fprintf(out, "\nPASS  azkeep demo: %d steps in %.1fs. The files az reads held the session, and no refresh token rested on disk.\n", d.steps, total.Seconds())
		fmt.Fprintf(out, "      With az installed, the demo also runs az account show and az account get-access-token against these files.\n")
		return nil
	}
	fmt.Fprintf(out, "\nPASS  azkeep demo: %d steps in %.1fs. az used the session, and no refresh token rested on disk.\n", d.steps, total.Seconds())
	return nil
}

// demoEnv is the environment az runs with in the demo: the user's own
// AZURE_*, proxy and CA settings removed, telemetry off, the emulator's
// proxy and CA in.
func demoEnv(emu *entraemu.Emulator) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		uk := strings.ToUpper(k)
		switch uk {
		case "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE":
			continue
		}
		if strings.HasPrefix(uk, "AZURE_") || strings.HasPrefix(uk, "MSAL_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "AZURE_CORE_COLLECT_TELEMETRY=false", "AZURE_CORE_NO_COLOR=true", "PYTHONWARNINGS=ignore")
	env = append(env, emu.Env()...)
	return append(env, "https_proxy="+emu.ProxyURL())
}

// prepare makes the home (memory vault: the demo needs no OS keyring) and
// a config dir with telemetry and the version check off, so az sends
// nothing the emulator does not serve.
func (d *demo) prepare(ctx context.Context) (string, error) {
	if err := os.MkdirAll(d.target, fileutil.DirPerm); err != nil {
		return "", err
	}
	cfg := "[core]\ncollect_telemetry = no\nfirst_run = no\n\n[auto-upgrade]\nenable = no\n"
	if err := fileutil.WriteAtomic(filepath.Join(d.target, "config"), []byte(cfg), fileutil.FilePerm); err != nil {
		return "", err
	}
	vc := fmt.Sprintf(`{"versions": {}, "update_time": "", "check_time": %q}`, time.Now().Format("2006-01-02 15:04:05.000000"))
	if err := fileutil.WriteAtomic(filepath.Join(d.target, "versionCheck.json"), []byte(vc), fileutil.FilePerm); err != nil {
		return "", err
	}
	// The native engine and login reach the emulator through the same
	// proxy and CA as az.
	client, err := native.ClientFromEnv(d.env)
	if err != nil {
		return "", err
	}
	home := filepath.Join(d.root, "home")
	f := NewFactory(IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	*f.Globals = Globals{ConfigDir: d.target, Home: home, Engine: d.engine}
	f.Environ = func() []string { return d.env }
	d.vault = vault.NewMemory()
	f.Vault = func() (vault.Store, error) { return d.vault, nil }
	f.HTTPClient = func() *http.Client { return client }
	if d.azPath == "" {
		f.Globals.Engine = "native"
		f.Login = func() lifecycle.Runner {
			return lifecycle.NativeLogin{Client: client, MaxInterval: 50 * time.Millisecond}
		}
	} else {
		// az runs with the emulator's proxy and CA, the version check
		// remembered in the demo's home (never the user's).
		d.runner = azcli.New(azcli.Options{Path: d.azPath, Env: d.env, StateDir: home})
		f.AZ = func() *azcli.Runner { return d.runner }
	}
	d.f = f
	if d.m, err = f.Manager(); err != nil {
		return "", err
	}
	if d.azPath == "" {
		return "memory vault, engine native, login by azkeep's own device-code flow", nil
	}
	return "memory vault, engine " + d.m.Engine.Name(), nil
}

// checkAZ runs the version check in the demo's config dir.
func (d *demo) checkAZ(ctx context.Context) (string, error) {
	stdout, _, err := d.run(ctx, d.target, "version", "--output", "json")
	if err != nil {
		return "", err
	}
	var v struct {
		CLI string `json:"azure-cli"`
	}
	_ = json.Unmarshal([]byte(stdout), &v)
	return "az " + v.CLI + " at " + d.azPath, nil
}

// scenario is the procedure, step by step.
func (d *demo) scenario(ctx context.Context) {
	tn := d.emu.Tenants()[0]
	m := d.m
	ok := d.step("integration create --alias demo --tenant "+tn.Domain+" --location westeurope", func() (string, error) {
		in, err := m.CreateIntegration(ctx, lifecycle.IntegrationSpec{Alias: "demo", Tenant: tn.Domain, Location: "westeurope"})
		if err != nil {
			return "", err
		}
		return "id " + in.ID + ", offline", nil
	})
	if !ok {
		return
	}
	var rep *lifecycle.LoginReport
	ok = d.step("integration login demo --device-code", func() (string, error) {
		before := demoListDir(d.target)
		var err error
		rep, err = m.Login(ctx, "demo", lifecycle.LoginOptions{DeviceCode: true})
		if err != nil {
			return "", err
		}
		if len(rep.Sessions) != len(tn.Subscriptions) {
			return "", fmt.Errorf("%d sessions for %d subscriptions", len(rep.Sessions), len(tn.Subscriptions))
		}
		if left, _ := filepath.Glob(filepath.Join(d.root, "home", "login-*")); len(left) > 0 {
			return "", fmt.Errorf("the private login dir %s was not removed", left[0])
		}
		if after := demoListDir(d.target); after != before {
			return "", errors.New("the login touched the config dir")
		}
		return fmt.Sprintf("signed in as %s; %d sessions; private login dir removed; config dir untouched", rep.Integration.Username, len(rep.Sessions)), nil
	})
	if !ok {
		return
	}
	d.step("session list", func() (string, error) {
		st, err := m.WS.Load()
		if err != nil {
			return "", err
		}
		var b strings.Builder
		if err := printSessions(&b, "table", sessionViews(st, nil)); err != nil {
			return "", err
		}
		return "\n" + indent(b.String(), "                "), nil
	})
	sub := tn.Subscriptions[0]
	ok = d.step(fmt.Sprintf("session start %q", sub.Name), func() (string, error) {
		s, err := m.Start(ctx, sub.Name)
		if err != nil {
			return "", err
		}
		return "access token valid until " + s.ExpiresAt.Local().Format(time.RFC3339), nil
	})
	if !ok {
		return
	}
	if d.runner == nil {
		d.step("azureProfile.json and msal_token_cache.json, as az would read them", func() (string, error) { return d.showFiles(sub.ID) })
	} else {
		d.step("az account show", func() (string, error) { return d.accountShow(ctx, sub.ID) })
		d.step("az account get-access-token", func() (string, error) { return d.getToken(ctx, true) })
	}
	d.step("no refresh token on disk; the vault holds the integration's three items", func() (string, error) {
		return d.checkSecrets(ctx, rep.Integration.ID)
	})
	d.step("session rotate --force", func() (string, error) {
		r, err := m.Rotate(ctx, "", true)
		if err != nil {
			return "", err
		}
		note := "new access token valid until " + r.Session.ExpiresAt.Local().Format(time.RFC3339)
		if r.RefreshTokenRotated {
			note += "; the rotated refresh token is in the vault"
		}
		return note, nil
	})
	if d.runner == nil {
		d.step("the files after the rotation", func() (string, error) { return d.showFiles(sub.ID) })
	} else {
		d.step("az account get-access-token after the rotation", func() (string, error) { return d.getToken(ctx, true) })
	}
	d.step("no refresh token on disk after the rotation", func() (string, error) { return d.checkSecrets(ctx, rep.Integration.ID) })
	d.step("session stop", func() (string, error) {
		if _, err := m.Stop(ctx, ""); err != nil {
			return "", err
		}
		if d.runner == nil {
			return d.loggedOut()
		}
		_, stderr, err := d.run(ctx, d.target, "account", "show")
		if err == nil {
			return "", errors.New("az account show still works after stop")
		}
		return "az account show now fails as after az logout: " + firstLine(stderr), nil
	})
}

func (d *demo) accountShow(ctx context.Context, wantID string) (string, error) {
	stdout, stderr, err := d.run(ctx, d.target, "account", "show", "--output", "json")
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, firstLine(stderr))
	}
	var a struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		User struct {
			Name string `json:"name"`
		} `json:"user"`
	}
	if err := json.Unmarshal([]byte(stdout), &a); err != nil {
		return "", fmt.Errorf("az account show printed no JSON: %w", err)
	}
	if !strings.EqualFold(a.ID, wantID) {
		return "", fmt.Errorf("az reports subscription %s, want %s", a.ID, wantID)
	}
	return fmt.Sprintf("%s (%s) as %s", a.Name, a.ID, a.User.Name), nil
}

func (d *demo) getToken(ctx context.Context, wantCached bool) (string, error) {
	d.emu.ResetRequests()
	stdout, stderr, err := d.run(ctx, d.target, "account", "get-access-token", "--output", "json")
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, firstLine(stderr))
	}
	var tok struct {
		ExpiresOn    string `json:"expiresOn"`
		Subscription string `json:"subscription"`
		AccessToken  string `json:"accessToken"`
	}
	if err := json.Unmarshal([]byte(stdout), &tok); err != nil || tok.AccessToken == "" {
		return "", errors.New("az printed no access token")
	}
	grants := d.emu.CountGrants("")
	if wantCached && grants != 0 {
		return "", fmt.Errorf("az made %d token requests; the token should have come from the cache", grants)
	}
	return fmt.Sprintf("a token for %s, expires %s, served from the cache (0 token requests)", tok.Subscription, tok.ExpiresOn), nil
}

func (d *demo) checkSecrets(ctx context.Context, integrationID string) (string, error) {
	c, err := azconfig.LoadTokenCache(d.target)
	if err != nil {
		return "", err
	}
	if n := c.RefreshTokens.Len(); n != 0 {
		return "", fmt.Errorf("%d refresh tokens in %s", n, filepath.Join(d.target, "msal_token_cache.json"))
	}
	// The az engine's staging dir keeps no token cache between redemptions.
	staged := filepath.Join(d.m.WS.Dir(), "az", azconfig.TokenCacheJSON)
	if _, err := os.Stat(staged); err == nil {
		return "", fmt.Errorf("%s is left behind", staged)
	}
	var names []string
	for _, k := range lifecycle.VaultKeys(integrationID) {
		data, err := d.vault.Get(ctx, k)
		if err != nil {
			return "", err
		}
		names = append(names, fmt.Sprintf("%s (%d bytes)", k[strings.IndexByte(k, '/')+1:], len(data)))
	}
	return fmt.Sprintf("token cache: access tokens %d, refresh tokens 0; vault: %s", c.AccessTokens.Len(), strings.Join(names, ", ")), nil
}

// showFiles reports what az would find in the config dir after a native
// start: the default subscription and the cache's sections, never a token.
func (d *demo) showFiles(wantID string) (string, error) {
	p, err := azconfig.LoadProfile(d.target)
	if err != nil {
		return "", err
	}
	var def *azconfig.Subscription
	for _, s := range p.Subscriptions {
		if s.IsDefault {
			def = s
		}
	}
	if def == nil || def.ID != wantID {
		return "", fmt.Errorf("azureProfile.json does not name %s as the default subscription", wantID)
	}
	c, err := azconfig.LoadTokenCache(d.target)
	if err != nil {
		return "", err
	}
	if c.Accounts.Len() != 1 || c.AccessTokens.Len() == 0 {
		return "", fmt.Errorf("the token cache holds %d accounts and %d access tokens; az needs one account and an access token", c.Accounts.Len(), c.AccessTokens.Len())
	}
	var until time.Time
	for _, at := range c.AccessTokens.All() {
		if sec, err := strconv.ParseInt(at.ExpiresOn, 10, 64); err == nil && time.Unix(sec, 0).After(until) {
			until = time.Unix(sec, 0)
		}
	}
	return fmt.Sprintf("default subscription %s (%s); cache: %d account, %d access token(s) valid until %s, %d refresh tokens",
		def.Name, def.ID, c.Accounts.Len(), c.AccessTokens.Len(), until.Local().Format(time.RFC3339), c.RefreshTokens.Len()), nil
}

// loggedOut checks what az logout leaves: no subscription, no account, no token.
func (d *demo) loggedOut() (string, error) {
	p, err := azconfig.LoadProfile(d.target)
	if err != nil {
		return "", err
	}
	c, err := azconfig.LoadTokenCache(d.target)
	if err != nil {
		return "", err
	}
	if len(p.Subscriptions) != 0 || c.Accounts.Len() != 0 || c.AccessTokens.Len() != 0 || c.RefreshTokens.Len() != 0 {
		return "", errors.New("the config dir still holds a subscription, an account or a token")
	}
	return "no subscription, account or token left: az would say 'Please run az login'", nil
}

// demoListDir fingerprints a dir's files (names, sizes, times).
func demoListDir(dir string) string {
	var b strings.Builder
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "%s %d %d\n", e.Name(), fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
