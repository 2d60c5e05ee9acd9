// Package bench measures azkeep against the emulator: the cost of a
// session start with each engine next to a bare `az account
// get-access-token` and a bare refresh POST, `session list` over 10,000
// sessions, a 5,000-subscription sync without az, and the agent at idle.
//
// Two ways in: the Go benchmarks (go test -bench . ./bench/) and
// TestReport, which bench/run.sh runs to print one table of medians and
// ratios measured side by side in one run (docs/performance.md).
package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
	"github.com/azkeep/azkeep/internal/workspace/workspacetest"
)

// env is one emulator with one logged-in integration and a target dir.
type env struct {
	emu    *entraemu.Emulator
	m      *lifecycle.Manager
	target string
	subs   []string
	home   string
}

func newEnv(tb testing.TB, eng string, subs int) *env { return newEnvIn(tb, eng, subs, "") }

// newEnvIn is newEnv with the home and target dir under root ("" for the
// test's temp dir).
func newEnvIn(tb testing.TB, eng string, subs int, root string) *env {
	tb.Helper()
	emu := testbed.Emulator(tb, entraemu.Config{SubscriptionsPerTenant: subs})
	base := tb.TempDir()
	if root != "" {
		var err error
		if base, err = os.MkdirTemp(root, "azkeep-bench-"); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { os.RemoveAll(base) })
	}
	ws, err := workspace.Open(filepath.Join(base, "home"))
	if err != nil {
		tb.Fatal(err)
	}
	target := filepath.Join(base, "azure")
	if err := testbed.PrepareConfigDir(target); err != nil {
		tb.Fatal(err)
	}
	e := &env{emu: emu, target: target, home: ws.Dir()}
	var en engine.Engine = &native.Engine{Client: emu.Client()}
	if eng == "az" {
		// The product's az engine (internal/engine, redeeming in a staging
		// dir as the CLI does), az reaching the emulator through its proxy.
		en = engine.NewAZ(azcli.New(azcli.Options{Env: testbed.AZEnv(emu, target)}), filepath.Join(ws.Dir(), "az"))
	}
	e.m = &lifecycle.Manager{
		WS: ws, Vault: vault.NewMemory(), Files: lifecycle.AZFiles{}, Engine: en,
		AZ:        lifecycle.NativeLogin{Client: emu.Client()},
		TargetDir: e.target,
		// A window longer than the tokens' lifetime parks nothing on
		// stop: every start redeems, which is what these rows measure
		// (TestProcessReport times the parked switch).
		Window: 2 * time.Hour,
		// As the CLI builds it (cli.newManager).
		OnDemandDefaults: eng == "az",
	}
	ctx := context.Background()
	ten := emu.Tenants()[0]
	if _, err := e.m.CreateIntegration(ctx, lifecycle.IntegrationSpec{Alias: "bench", Tenant: ten.ID}); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.m.Login(ctx, "bench", lifecycle.LoginOptions{DeviceCode: true}); err != nil {
		tb.Fatal(err)
	}
	for _, s := range ten.Subscriptions {
		e.subs = append(e.subs, s.ID)
	}
	return e
}

// start times one session start (the active one stopped first, untimed).
func (e *env) start(tb testing.TB, i int) time.Duration {
	ctx := context.Background()
	if cur, _ := e.m.Current(); cur != nil {
		if _, err := e.m.Stop(ctx, cur.ID); err != nil {
			tb.Fatal(err)
		}
	}
	t0 := time.Now()
	if _, err := e.m.Start(ctx, e.subs[i%len(e.subs)]); err != nil {
		tb.Fatal(err)
	}
	return time.Since(t0)
}

// bareAZ times `az account get-access-token` served from the cache.
func (e *env) bareAZ(tb testing.TB) time.Duration {
	t0 := time.Now()
	res := testbed.AZ(context.Background(), e.emu, e.target, "account", "get-access-token", "--output", "none")
	d := time.Since(t0)
	if !res.OK() {
		tb.Fatalf("az account get-access-token: %s", res)
	}
	return d
}

// redeemer times a bare `az account get-access-token` that must redeem
// the refresh token (its access tokens removed first, untimed): what the az
// engine costs without azkeep around it.
type redeemer struct {
	emu *entraemu.Emulator
	dir string
}

func newRedeemer(tb testing.TB, emu *entraemu.Emulator) *redeemer {
	dir := testbed.NewConfigDir(tb)
	if _, err := native.Login(context.Background(), native.LoginOptions{ConfigDir: dir, Tenant: emu.Tenants()[0].ID, Client: emu.Client(), MaxInterval: 10 * time.Millisecond}); err != nil {
		tb.Fatal(err)
	}
	return &redeemer{emu: emu, dir: dir}
}

func (r *redeemer) redeem(tb testing.TB) time.Duration {
	if err := azconfig.UpdateTokenCache(context.Background(), r.dir, func(c *azconfig.TokenCache) error {
		c.RemoveAccessTokens("")
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	t0 := time.Now()
	res := testbed.AZ(context.Background(), r.emu, r.dir, "account", "get-access-token", "--output", "none")
	d := time.Since(t0)
	if !res.OK() {
		tb.Fatalf("az account get-access-token: %s", res)
	}
	return d
}

// refreshPoster sends the bare refresh-token POST: the floor of any engine.
type refreshPoster struct {
	client   *http.Client
	endpoint string
	rt       string
}

func newRefreshPoster(tb testing.TB, emu *entraemu.Emulator) *refreshPoster {
	dir := testbed.NewConfigDir(tb)
	res, err := native.Login(context.Background(), native.LoginOptions{ConfigDir: dir, Tenant: emu.Tenants()[0].ID, Client: emu.Client(), MaxInterval: 10 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		tb.Fatal(err)
	}
	rt, ok := c.RefreshToken(res.HomeAccountID, "", azure.AzureCLIClientID)
	if !ok {
		tb.Fatal("no refresh token after login")
	}
	return &refreshPoster{client: emu.Client(), endpoint: "https://login.microsoftonline.com/" + emu.Tenants()[0].ID + "/oauth2/v2.0/token", rt: rt.Secret}
}

func (p *refreshPoster) post(tb testing.TB) time.Duration {
	form := url.Values{
		"client_id": {azure.AzureCLIClientID}, "grant_type": {"refresh_token"}, "client_info": {"1"},
		"refresh_token": {p.rt}, "scope": {"https://management.core.windows.net//.default offline_access openid profile"},
	}
	t0 := time.Now()
	resp, err := p.client.PostForm(p.endpoint, form)
	if err != nil {
		tb.Fatal(err)
	}
	var tr azconfig.TokenResponse
	err = decodeJSON(resp, &tr)
	d := time.Since(t0)
	if err != nil || tr.AccessToken == "" {
		tb.Fatalf("refresh POST: %v %s", err, tr.Error)
	}
	if tr.RefreshToken != "" {
		p.rt = tr.RefreshToken
	}
	return d
}

func BenchmarkStartNative(b *testing.B) { benchStartNative(b, "") }

// BenchmarkStartNativeTmpfs is BenchmarkStartNative with its files on
// /dev/shm: the start without the cost of fsync.
func BenchmarkStartNativeTmpfs(b *testing.B) {
	if fi, err := os.Stat("/dev/shm"); err != nil || !fi.IsDir() {
		b.Skip("no /dev/shm")
	}
	benchStartNative(b, "/dev/shm")
}

func benchStartNative(b *testing.B, root string) {
	e := newEnvIn(b, "native", 2, root)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if cur, _ := e.m.Current(); cur != nil {
			e.m.Stop(context.Background(), cur.ID)
		}
		b.StartTimer()
		if _, err := e.m.Start(context.Background(), e.subs[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStartAZ(b *testing.B) {
	testbed.RequireAZ(b)
	e := newEnv(b, "az", 2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if cur, _ := e.m.Current(); cur != nil {
			e.m.Stop(context.Background(), cur.ID)
		}
		b.StartTimer()
		if _, err := e.m.Start(context.Background(), e.subs[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBareRefreshPOST(b *testing.B) {
	emu := testbed.Emulator(b, entraemu.Config{})
	p := newRefreshPoster(b, emu)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.post(b)
	}
}

func BenchmarkSessionList10k(b *testing.B) {
	bin := buildAzkeep(b)
	home := fillSessions(b, 10000, 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runAzkeep(b, bin, home, "session", "list", "--output", "json")
	}
}

func BenchmarkSync5000(b *testing.B) {
	s := newSyncRig(b, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.sync(b)
	}
}

// --- helpers shared with the report --------------------------------------

// buildAzkeep builds cmd/azkeep once per test binary into a temp dir, or
// uses $AZKEEP_BIN.
func buildAzkeep(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("AZKEEP_BIN"); p != "" {
		return p
	}
	builtOnce.Do(func() {
		dir, err := os.MkdirTemp("", "azkeep-bench-")
		if err != nil {
			builtErr = err
			return
		}
		builtBin = filepath.Join(dir, "azkeep")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/azkeep/azkeep/cmd/azkeep").CombinedOutput()
		if err != nil {
			builtErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if builtErr != nil {
		tb.Fatal(builtErr)
	}
	return builtBin
}

// runAzkeep runs the azkeep binary with home as its AZKEEP_HOME and returns
// how long the process took, from start to exit.
//
// The output is read through a pipe, as a consumer (jq, a script) reads it,
// and discarded: holding 3 MB of JSON in a growing buffer would time the
// harness's allocations rather than azkeep.
func runAzkeep(tb testing.TB, bin, home string, args ...string) time.Duration {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AZKEEP_HOME="+home, "AZURE_CONFIG_DIR="+filepath.Join(home, "azure"), "AZKEEP_VAULT=file")
	var errb strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		tb.Fatalf("azkeep %s: %v\n%s", strings.Join(args, " "), err, firstLines(errb.String(), 5))
	}
	return d
}

// fillSessions writes a state file with n sessions over n/100
// integrations; the first active of them are active in config dirs of
// their own, with tokens far from expiry.
func fillSessions(tb testing.TB, n, active int) string {
	tb.Helper()
	home := filepath.Join(tb.TempDir(), "home")
	workspacetest.Fill(tb, home, n, active)
	return home
}

// syncRig re-logs in an integration whose login dir holds n
// subscriptions; the runner copies prepared files, so no az and no
// network is measured: reading the files, the vault writes, the sync of n
// sessions and the state write.
type syncRig struct {
	m        *lifecycle.Manager
	template string
}

type copyRunner struct{ from string }

func (r copyRunner) Login(_ context.Context, req lifecycle.LoginRequest) error {
	for _, name := range []string{azconfig.TokenCacheJSON, azconfig.ProfileFile} {
		data, err := os.ReadFile(filepath.Join(r.from, name))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(req.ConfigDir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func newSyncRig(tb testing.TB, n int) *syncRig {
	tb.Helper()
	emu := testbed.Emulator(tb, entraemu.Config{SubscriptionsPerTenant: n})
	tmpl := testbed.NewConfigDir(tb)
	if _, err := native.Login(context.Background(), native.LoginOptions{ConfigDir: tmpl, Tenant: emu.Tenants()[0].ID, Client: emu.Client(), MaxInterval: 10 * time.Millisecond}); err != nil {
		tb.Fatal(err)
	}
	ws, err := workspace.Open(filepath.Join(tb.TempDir(), "home"))
	if err != nil {
		tb.Fatal(err)
	}
	m := &lifecycle.Manager{WS: ws, Vault: vault.NewMemory(), Files: lifecycle.AZFiles{}, AZ: copyRunner{tmpl},
		Engine: &native.Engine{Client: emu.Client()}, TargetDir: testbed.NewConfigDir(tb)}
	if _, err := m.CreateIntegration(context.Background(), lifecycle.IntegrationSpec{Alias: "big", Tenant: emu.Tenants()[0].ID}); err != nil {
		tb.Fatal(err)
	}
	return &syncRig{m: m, template: tmpl}
}

func (s *syncRig) sync(tb testing.TB) time.Duration {
	t0 := time.Now()
	rep, err := s.m.Login(context.Background(), "big", lifecycle.LoginOptions{DeviceCode: true})
	d := time.Since(t0)
	if err != nil {
		tb.Fatal(err)
	}
	_ = rep
	return d
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
