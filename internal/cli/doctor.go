package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/agent"
	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// Doctor verdicts.
const (
	verdictOK   = "ok"
	verdictWarn = "warn"
	verdictFail = "fail"
)

// DoctorCheck is one line of `azkeep doctor`: the stable JSON shape.
type DoctorCheck struct {
	Name    string `json:"name"`
	Verdict string `json:"verdict"` // ok, warn or fail
	Detail  string `json:"detail"`
	Fix     string `json:"fix,omitempty"`
}

// DoctorOptions are the inputs of `doctor`.
type DoctorOptions struct {
	IO        IO
	Globals   func() *Globals
	Workspace func() (*workspace.Workspace, error)
	Vault     func() (vault.Store, error)
	AZ        func() *azcli.Runner
	// HTTPClient asks the token endpoint for its time (the environment's
	// proxy applies).
	HTTPClient func() *http.Client
	Now        func() time.Time
	Output     string
}

// NewCmdDoctor builds `doctor`.
func NewCmdDoctor(f *Factory, runF func(context.Context, *DoctorOptions) error) *cobra.Command {
	opts := &DoctorOptions{IO: f.IO, Globals: func() *Globals { return f.Globals }, Workspace: f.Workspace, Vault: f.Vault, AZ: f.AZ,
		HTTPClient: f.HTTPClient, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check az, the Azure CLI's config dir, the vault, the agent and the state file",
		Long: `Check what azkeep depends on, each with a verdict (ok, warn, fail) and the
fix: az found and its version; the Azure CLI's config dir (refresh tokens
of your own logins resting on disk, the token cache az reads); the vault
backend, how it was chosen, whether it answers and how many items it
holds; the agent and its next rotation; the state file; exec dirs a
killed azkeep left behind; the clock against the token endpoint's (one
request, through the proxy, at most 5 seconds). Exits 1 when a check
fails. It runs no rotation and changes nothing.

--output json prints an array of objects with the stable fields name,
verdict, detail and fix.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return doctorRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	return cmd
}

// errDoctor is the error of a doctor run with a failed check (the checks
// say what and how to fix it).
var errDoctor = errors.New("some checks failed")

func doctorRun(ctx context.Context, opts *DoctorOptions) error {
	g := opts.Globals()
	var checks []DoctorCheck
	add := func(name, verdict, detail, fix string) {
		checks = append(checks, DoctorCheck{Name: name, Verdict: verdict, Detail: detail, Fix: fix})
	}
	fail := func(name string, err error) {
		add(name, verdictFail, err.Error(), hint.Of(err))
	}

	// az.
	if v, err := opts.AZ().Version(ctx); err != nil {
		fail("az", err)
	} else {
		path, _ := opts.AZ().Path()
		add("az", verdictOK, fmt.Sprintf("%s, version %s", path, v), "")
	}

	// The target dir: which cache az reads, and refresh tokens resting there.
	dir := workspace.CleanDir(g.ConfigDir)
	if path, err := azconfig.CheckTokenCache(dir); err != nil {
		fail("config dir", err)
	} else if c, err := azconfig.LoadTokenCache(dir); err != nil {
		fail("config dir", err)
	} else if n := c.RefreshTokens.Len(); n > 0 {
		add("config dir", verdictWarn, fmt.Sprintf("%s holds %d refresh token(s) of logins made outside azkeep", path, n),
			"az logout there, then log in through azkeep integration login")
	} else {
		add("config dir", verdictOK, fmt.Sprintf("az reads %s; no refresh token rests there", path), "")
	}

	// The state file.
	ws, err := opts.Workspace()
	var st *workspace.State
	if err == nil {
		st, err = ws.Load()
	}
	if err != nil {
		fail("state", err)
	} else {
		add("state", verdictOK, fmt.Sprintf("%s: %d integration(s), %d session(s)", ws.Path(), len(st.Integrations), len(st.Sessions)), "")
	}

	// The vault: how it was chosen, whether it answers, what it holds.
	how := "the OS default"
	switch {
	case g.Vault != "":
		how = "chosen by --vault or AZKEEP_VAULT"
	case vault.Selected(g.Home) != "":
		how = "recorded for this home (first run or vault migrate)"
	}
	name := vault.Resolve(g.Vault, g.Home)
	if v, err := opts.Vault(); err != nil {
		fail("vault", err)
	} else if err := vault.Check(ctx, v); err != nil {
		fail("vault", err)
	} else if items, err := v.List(ctx); err != nil {
		fail("vault", err)
	} else {
		add("vault", verdictOK, fmt.Sprintf("%s (%s) answers; %d item(s)", name, how, len(items)), "")
	}

	// The agent.
	if ws != nil {
		if agent.Running(ws.Dir()) {
			detail := "running"
			if rec, err := agent.ReadStatus(ws.Dir()); err == nil && rec != nil && len(rec.Next) > 0 {
				detail += fmt.Sprintf("; next rotation %s at %s", rec.Next[0].Label, rec.Next[0].At.Local().Format(time.RFC3339))
			}
			add("agent", verdictOK, detail, "")
		} else {
			add("agent", verdictWarn, "not running: sessions rotate only when an azkeep command runs", "azkeep agent install")
		}
	}

	// Exec dirs whose owners are gone: each may hold an access token
	// until the next azkeep exec sweeps it.
	if ws != nil {
		if stale, err := sessiondir.Stale(execBase(ws.Dir())); err != nil {
			fail("exec dirs", err)
		} else if len(stale) > 0 {
			add("exec dirs", verdictWarn, fmt.Sprintf("%d dir(s) under %s belong to azkeep exec runs that are gone", len(stale), execBase(ws.Dir())),
				"run any azkeep exec: it removes them first")
		} else {
			add("exec dirs", verdictOK, "none left behind", "")
		}
	}

	checks = append(checks, clockCheck(ctx, opts.HTTPClient(), opts.Now, authorityOf(st)))

	failed := false
	for _, c := range checks {
		failed = failed || c.Verdict == verdictFail
	}
	if opts.Output == "json" {
		if err := writeJSON(opts.IO.Out, checks); err != nil {
			return err
		}
	} else {
		tw := newTable(opts.IO.Out)
		for _, c := range checks {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Verdict, c.Name, c.Detail)
			if c.Fix != "" && c.Verdict != verdictOK {
				fmt.Fprintf(tw, "\t\tfix: %s\n", c.Fix)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failed {
		return errDoctor
	}
	return nil
}

// authorityOf is the authority host of the state's first integration, or
// the public cloud's.
func authorityOf(st *workspace.State) string {
	if st != nil {
		for _, in := range st.Integrations {
			if in.Cloud.AuthorityHost != "" {
				return in.Cloud.AuthorityHost
			}
		}
	}
	return azure.AzureCloud.AuthorityHost
}

// Clock skew bounds: Entra ID tolerates about 5 minutes on a token's
// times, and the rotation window is counted on this machine's clock.
const (
	skewWarn = 30 * time.Second
	skewFail = 5 * time.Minute
)

// clockCheck compares this machine's clock with the Date header of one
// HEAD request to the token endpoint's host.
func clockCheck(ctx context.Context, client *http.Client, now func() time.Time, authority string) DoctorCheck {
	const name = "clock"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, authority+"/", nil)
	if err != nil {
		return DoctorCheck{Name: name, Verdict: verdictWarn, Detail: err.Error()}
	}
	sent := now()
	resp, err := client.Do(req)
	if err != nil {
		return DoctorCheck{Name: name, Verdict: verdictWarn, Detail: fmt.Sprintf("cannot ask %s for its time: %v", authority, err),
			Fix: "check the network or HTTPS_PROXY; a later login or rotation would fail the same way"}
	}
	resp.Body.Close()
	got := now()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return DoctorCheck{Name: name, Verdict: verdictWarn, Detail: authority + " sent no usable Date header"}
	}
	// The server's second is compared with the middle of the round trip.
	skew := date.Sub(sent.Add(got.Sub(sent) / 2)).Round(time.Second)
	abs := max(skew, -skew)
	detail := "in step with " + authority
	switch {
	case skew > 0:
		detail = fmt.Sprintf("%s behind %s", skew, authority)
	case skew < 0:
		detail = fmt.Sprintf("%s ahead of %s", -skew, authority)
	}
	if abs <= skewWarn {
		return DoctorCheck{Name: name, Verdict: verdictOK, Detail: detail}
	}
	verdict := verdictWarn
	if abs >= skewFail {
		verdict = verdictFail
	}
	return DoctorCheck{Name: name, Verdict: verdict, Detail: detail + ": tokens may look expired or not yet valid, and rotations come at the wrong time",
		Fix: "turn on time synchronisation (timedatectl set-ntp true; w32tm /resync on Windows)"}
}
