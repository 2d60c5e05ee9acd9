//go:build unix

package cli

// End-to-end tests of azkeep exec with the real az and the emulator: the
// lifecycle logs in through az (device code) into a memory vault, the
// native engine redeems, and exec's children run the real az and the Azure
// SDK for Go (azidentity, a test-only dependency).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	azruntime "github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/azkeep/azkeep/internal/agent"
	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/childproc"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

const (
	armScope   = "https://management.core.windows.net//.default" // the Go SDK's ARM audience
	vaultScope = "https://vault.azure.net/.default"
)

type deviceLogin struct{ emu *entraemu.Emulator }

func (r deviceLogin) Login(ctx context.Context, req lifecycle.LoginRequest) error {
	res := testbed.AZ(ctx, r.emu, req.ConfigDir, "login", "--tenant", req.Tenant, "--use-device-code", "--output", "none")
	if !res.OK() {
		return fmt.Errorf("az login: %s", res)
	}
	return nil
}

type execBed struct {
	emu    *entraemu.Emulator
	m      *lifecycle.Manager
	home   string
	target string
}

// newExecBed logs one integration in per tenant (vault.azure.net among its
// resources) and starts the first tenant's first subscription in the target
// dir as the default session.
func newExecBed(t *testing.T, cfg entraemu.Config) *execBed {
	t.Helper()
	return newExecBedEngine(t, cfg, "native")
}

// newExecBedEngine is newExecBed with the "native" or the "az" engine.
func newExecBedEngine(t *testing.T, cfg entraemu.Config, engineName string) *execBed {
	t.Helper()
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, cfg)
	home := filepath.Join(t.TempDir(), "home")
	ws, err := workspace.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	b := &execBed{emu: emu, home: home, target: testbed.NewConfigDir(t)}
	var eng engine.Engine = native.New(emu.Client())
	if engineName == "az" {
		eng = engine.NewAZ(azcli.New(azcli.Options{Env: testbed.AZEnv(emu, b.target)}), filepath.Join(home, "az"))
	}
	b.m = &lifecycle.Manager{WS: ws, Vault: vault.NewMemory(), AZ: deviceLogin{emu}, Engine: eng,
		Files: lifecycle.AZFiles{}, TargetDir: b.target}
	ctx := context.Background()
	for i, tn := range emu.Tenants() {
		alias := fmt.Sprintf("t%d", i)
		if _, err := b.m.CreateIntegration(ctx, lifecycle.IntegrationSpec{Alias: alias, Tenant: tn.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.m.Login(ctx, alias, lifecycle.LoginOptions{DeviceCode: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ws.Update(ctx, func(st *workspace.State) error {
		for i := range st.Integrations {
			st.Integrations[i].Resources = []string{"https://vault.azure.net"}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.m.Start(ctx, emu.Tenants()[0].Subscriptions[0].ID); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *execBed) execEnv(out, errw io.Writer, extraEnv ...string) *execEnv {
	f := NewFactory(IO{In: strings.NewReader(""), Out: out, Err: errw})
	f.Globals.Home = b.home
	e := newExecEnv(f, b.m)
	e.Environ = append(testbed.AZEnv(b.emu, b.target), extraEnv...)
	return e
}

// resolve is azkeep env's session lookup in the bed's state.
func (b *execBed) resolve(q string) (*workspace.Session, *workspace.Integration, error) {
	st, err := b.m.WS.Load()
	if err != nil {
		return nil, nil, err
	}
	s, err := st.Session(q)
	if err != nil {
		return nil, nil, err
	}
	return s, st.IntegrationByID(s.IntegrationID), nil
}

func dirContents(t *testing.T, dir string) map[string]string {
	t.Helper()
	m, err := testbed.DirSnapshot(dir, true)
	if err != nil {
		t.Error(err)
	}
	return m
}

// Two execs on two tenants at the same time: each child's az sees its own
// subscription and gets a token of its own tenant; the default session in
// the target dir does not change; no refresh token in either dir.
func TestExecE2ETwoTenantsAtOnce(t *testing.T) {
	b := newExecBed(t, entraemu.Config{Tenants: 2, SubscriptionsPerTenant: 1})
	before := dirContents(t, b.target)
	work := t.TempDir()
	script := `set -e
out=$1 other=$2
mkdir -p "$out"
az account show -o json > "$out/show.json"
az account get-access-token -o json > "$out/token.json"
echo "$AZURE_CONFIG_DIR" > "$out/dir.txt"
cp -r "$AZURE_CONFIG_DIR" "$out/snapshot"
touch "$out/ready"
# Both children are now running with their sessions; the test checks the
# target dir, then lets them finish.
for i in $(seq 600); do [ -e "$out/../go" ] && exit 0; sleep 0.1; done
exit 9`
	// While the execs run, scan their dirs over and over: no refresh token
	// may show up, not even for a moment (the redemption happens in
	// private "redeem-" scratch dirs).
	scanStop := make(chan struct{})
	scanDone := make(chan []string)
	go func() {
		var bad []string
		scans := 0
		for {
			select {
			case <-scanStop:
				scanDone <- append(bad, fmt.Sprintf("scans=%d", scans))
				return
			default:
			}
			entries, _ := os.ReadDir(execBase(b.home))
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "redeem-") {
					continue
				}
				for _, f := range testbed.RefreshTokens(testbed.ScanSecrets(filepath.Join(execBase(b.home), e.Name()))) {
					bad = append(bad, f.String())
				}
			}
			scans++
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([]*bytes.Buffer, 2)
	tenants := b.emu.Tenants()
	for i := range tenants {
		outs[i] = &bytes.Buffer{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var errw bytes.Buffer
			e := b.execEnv(outs[i], &errw)
			me, other := filepath.Join(work, fmt.Sprint(i)), filepath.Join(work, fmt.Sprint(1-i))
			errs[i] = execRun(context.Background(), e, ExecOptions{Session: tenants[i].Subscriptions[0].ID,
				Command: []string{"bash", "-c", script, "_", me, other}})
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%w; stderr: %s", errs[i], errw.String())
			}
		}()
	}
	var during map[string]string
	for i := 0; i < 1200; i++ {
		_, err0 := os.Stat(filepath.Join(work, "0", "ready"))
		_, err1 := os.Stat(filepath.Join(work, "1", "ready"))
		if err0 == nil && err1 == nil {
			during = dirContents(t, b.target)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	os.WriteFile(filepath.Join(work, "go"), nil, 0o600)
	wg.Wait()
	close(scanStop)
	if found := <-scanDone; len(found) != 1 {
		t.Errorf("refresh tokens seen in a per-session dir while the execs ran: %v", found)
	} else {
		t.Logf("per-session dirs scanned %s times while the execs ran: no refresh token", strings.TrimPrefix(found[0], "scans="))
	}
	if during == nil {
		t.Fatal("the two execs never ran at the same time")
	}
	if fmt.Sprint(before) != fmt.Sprint(during) {
		t.Error("the target dir changed while both execs ran")
	}
	for i, tn := range tenants {
		if errs[i] != nil {
			t.Fatalf("exec %d: %v", i, errs[i])
		}
		dir := filepath.Join(work, fmt.Sprint(i))
		var show struct{ ID, TenantID string }
		data, _ := os.ReadFile(filepath.Join(dir, "show.json"))
		if err := json.Unmarshal(data, &show); err != nil {
			t.Fatalf("exec %d: az account show: %v: %s", i, err, data)
		}
		if show.ID != tn.Subscriptions[0].ID || show.TenantID != tn.ID {
			t.Errorf("exec %d: az account show says %s/%s, want %s/%s", i, show.ID, show.TenantID, tn.Subscriptions[0].ID, tn.ID)
		}
		var tok struct{ AccessToken, Subscription, Tenant string }
		data, _ = os.ReadFile(filepath.Join(dir, "token.json"))
		if err := json.Unmarshal(data, &tok); err != nil {
			t.Fatalf("exec %d: get-access-token: %v", i, err)
		}
		c, err := entraemu.ParseClaims(tok.AccessToken)
		if err != nil {
			t.Fatalf("exec %d: %v", i, err)
		}
		if tid := c.String("tid"); tid != tn.ID || tok.Subscription != tn.Subscriptions[0].ID {
			t.Errorf("exec %d: token of tenant %v for %s, want %s / %s", i, tid, tok.Subscription, tn.ID, tn.Subscriptions[0].ID)
		}
		found := testbed.ScanSecrets(filepath.Join(dir, "snapshot"))
		if rts := testbed.RefreshTokens(found); len(rts) != 0 {
			t.Errorf("exec %d: refresh tokens in the per-session dir: %v", i, rts)
		}
		if len(found) == 0 {
			t.Errorf("exec %d: the scanner found no token at all in the per-session dir (scanner blind?)", i)
		}
		sessDir, _ := os.ReadFile(filepath.Join(dir, "dir.txt"))
		if _, err := os.Stat(strings.TrimSpace(string(sessDir))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("exec %d: per-session dir %s still there", i, sessDir)
		}
	}
	after := dirContents(t, b.target)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Error("the target dir changed while the execs ran")
	}
	if r := testbed.MustAZ(t, b.emu, b.target, "account", "show", "-o", "json"); !strings.Contains(r.Stdout, tenants[0].Subscriptions[0].ID) {
		t.Errorf("default session changed: %s", r.Stdout)
	}
}

// Exit status passes through, SIGINT reaches the child, the dir goes.
func TestExecE2EExitCodeAndSigint(t *testing.T) {
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1})
	sub := b.emu.Tenants()[0].Subscriptions[0].ID
	var out, errw bytes.Buffer
	err := execRun(context.Background(), b.execEnv(&out, &errw), ExecOptions{Session: sub,
		Command: []string{"bash", "-c", `az account show --query id -o tsv; echo "$AZURE_CONFIG_DIR"; exit 3`}})
	var exit *childproc.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Fatalf("err %v, want exit 3; stderr %s", err, errw.String())
	}
	lines := strings.Fields(out.String())
	if len(lines) != 2 || lines[0] != sub {
		t.Fatalf("child output %q", out.String())
	}
	if _, err := os.Stat(lines[1]); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("per-session dir left: %v", err)
	}

	ready := filepath.Join(t.TempDir(), "ready")
	go func() {
		for i := 0; i < 600; i++ {
			if _, err := os.Stat(ready); err == nil {
				syscall.Kill(os.Getpid(), syscall.SIGINT)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	out.Reset()
	err = execRun(context.Background(), b.execEnv(&out, &errw), ExecOptions{Session: sub,
		Command: []string{"bash", "-c", `trap 'echo got-int; exit 42' INT; touch "$1"; while :; do sleep 0.05; done`, "_", ready}})
	if !errors.As(err, &exit) || exit.Code != 42 || !strings.Contains(out.String(), "got-int") {
		t.Fatalf("SIGINT: err %v out %q", err, out.String())
	}
	if entries, _ := os.ReadDir(execBase(b.home)); len(entries) != 0 {
		t.Fatalf("per-session dirs left: %v", entries)
	}

	// A child killed with SIGKILL: 128+9, and its dir goes at once.
	out.Reset()
	err = execRun(context.Background(), b.execEnv(&out, &errw), ExecOptions{Session: sub,
		Command: []string{"bash", "-c", `echo "$AZURE_CONFIG_DIR"; kill -KILL $$`}})
	if !errors.As(err, &exit) || exit.Code != 137 {
		t.Fatalf("SIGKILLed child: err %v, want exit 137", err)
	}
	if _, err := os.Stat(strings.TrimSpace(out.String())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir of a SIGKILLed child left: %v", err)
	}
}

// exec --server: the SDK's ManagedIdentityCredential and
// DefaultAzureCredential get tokens from the endpoint, AzureCLICredential
// from az in the per-session dir; every token is of the session's tenant and
// ARM accepts the ARM ones; the endpoint refuses what it must.
func TestExecE2EServerWithAzidentity(t *testing.T) {
	// The seed's engine (az) here; native in the other tests.
	b := newExecBedEngine(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1, StrictRefresh: true}, "az")
	tn := b.emu.Tenants()[0]
	res := runHelper(t, b, "sdk", 0)
	want := map[string]string{}
	for _, cred := range []string{"mi", "dac", "cli"} {
		want[cred+" "+armScope] = tn.ID
		want[cred+" "+vaultScope] = tn.ID
	}
	want["refuse missing"] = "401"
	want["refuse wrong"] = "403"
	want["refuse host"] = "421"
	want["refuse post"] = "405"
	want["arm mi"] = "200 " + tn.Subscriptions[0].ID
	want["arm cli"] = "200 " + tn.Subscriptions[0].ID
	want["sdk arm dac"] = "200 " + tn.Subscriptions[0].ID
	for k, v := range want {
		if res[k] != v {
			t.Errorf("%s: got %q, want %q", k, res[k], v)
		}
	}
	t.Logf("helper said: %v", res)
}

// A long-running child keeps getting valid tokens through the endpoint:
// tokens live 3 s, the child asks for 12 s and uses each one on ARM; with
// single-use refresh tokens, every rotated one must have reached the vault.
func TestExecE2EServerLongRunningChild(t *testing.T) {
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1, StrictRefresh: true, TokenLifetime: 3 * time.Second})
	res := runHelper(t, b, "long", 12*time.Second)
	t.Logf("helper said: %v", res)
	if res["failures"] != "0" {
		t.Fatalf("helper: %v", res)
	}
	var distinct int
	fmt.Sscan(res["distinct"], &distinct)
	if distinct < 4 {
		t.Fatalf("%d distinct tokens over 4 lifetimes: not renewed? %v", distinct, res)
	}
}

// runHelper runs this test binary as exec --server's child in helper mode and
// returns the key/value lines it printed.
func runHelper(t *testing.T, b *execBed, mode string, d time.Duration) map[string]string {
	t.Helper()
	var out, errw bytes.Buffer
	e := b.execEnv(&out, &errw, "AZKEEP_EXEC_HELPER="+mode, "AZKEEP_EXEC_HELPER_FOR="+d.String())
	err := execRun(context.Background(), e, ExecOptions{Session: b.emu.Tenants()[0].Subscriptions[0].ID, Server: true,
		Command: []string{os.Args[0], "-test.run=^TestExecHelperProcess$", "-test.v=false"}})
	if err != nil {
		t.Fatalf("exec: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errw.String())
	}
	res := map[string]string{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			res[k] = v
		}
	}
	return res
}

// TestExecHelperProcess is exec's child in the tests above, not a test.
func TestExecHelperProcess(t *testing.T) {
	mode := os.Getenv("AZKEEP_EXEC_HELPER")
	if mode == "" {
		t.Skip("helper process for the exec tests")
	}
	say := func(k, v string) { fmt.Printf("%s=%s\n", k, v) }
	ctx := context.Background()
	switch mode {
	case "sdk":
		helperRefusals(say)
		mi, err := azidentity.NewManagedIdentityCredential(nil)
		if err != nil {
			say("mi", err.Error())
		}
		dac, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			say("dac", err.Error())
		}
		cli, err := azidentity.NewAzureCLICredential(&azidentity.AzureCLICredentialOptions{TenantID: os.Getenv("AZURE_TENANT_ID")})
		if err != nil {
			say("cli", err.Error())
		}
		for name, get := range map[string]func(string) (string, error){
			"mi":  tokenOf(ctx, mi),
			"dac": tokenOf(ctx, dac),
			"cli": tokenOf(ctx, cli),
		} {
			for _, scope := range []string{armScope, vaultScope} {
				tok, err := get(scope)
				if err != nil {
					say(name+" "+scope, "error: "+strings.ReplaceAll(err.Error(), "\n", " "))
					continue
				}
				say(name+" "+scope, tenantOf(tok))
				if scope == armScope && name != "dac" {
					say("arm "+name, armSubscriptions(ctx, tok))
				}
			}
		}
		// The SDK's own ARM pipeline (bearer policy, transport through
		// HTTPS_PROXY with SSL_CERT_FILE's CA) with DefaultAzureCredential.
		say("sdk arm dac", sdkSubscriptions(ctx, dac))
	case "long":
		mi, err := azidentity.NewManagedIdentityCredential(nil)
		if err != nil {
			say("error", err.Error())
			return
		}
		get := tokenOf(ctx, mi)
		d, _ := time.ParseDuration(os.Getenv("AZKEEP_EXEC_HELPER_FOR"))
		seen := map[string]bool{}
		failures, calls := 0, 0
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			calls++
			tok, err := get(armScope)
			if err != nil {
				failures++
				say("error", err.Error())
				continue
			}
			seen[tok] = true
			if r := armSubscriptions(ctx, tok); !strings.HasPrefix(r, "200 ") {
				failures++
				say("arm", r)
			}
		}
		say("calls", fmt.Sprint(calls))
		say("distinct", fmt.Sprint(len(seen)))
		say("failures", fmt.Sprint(failures))
	}
}

func tokenOf(ctx context.Context, c azcore.TokenCredential) func(string) (string, error) {
	return func(scope string) (string, error) {
		if c == nil || reflect.ValueOf(c).IsNil() {
			return "", errors.New("no credential")
		}
		tk, err := c.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
		return tk.Token, err
	}
}

func tenantOf(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) < 2 {
		return "not a JWT"
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "bad JWT"
	}
	var c struct {
		TID string `json:"tid"`
	}
	json.Unmarshal(raw, &c)
	return c.TID
}

// armSubscriptions lists subscriptions with tok through HTTPS_PROXY (the
// emulator) and SSL_CERT_FILE (its CA), as an SDK client would.
func armSubscriptions(ctx context.Context, tok string) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://management.azure.com/subscriptions?api-version=2022-12-01", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	ids := []string{}
	for _, v := range body.Value {
		ids = append(ids, v.SubscriptionID)
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.Join(ids, ","))
}

func sdkSubscriptions(ctx context.Context, cred azcore.TokenCredential) string {
	client, err := arm.NewClient("azkeep-test", "v0.0.1", cred, nil)
	if err != nil {
		return "error: " + err.Error()
	}
	req, err := azruntime.NewRequest(ctx, http.MethodGet, azruntime.JoinPaths(client.Endpoint(), "subscriptions"))
	if err != nil {
		return "error: " + err.Error()
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", "2022-12-01")
	req.Raw().URL.RawQuery = q.Encode()
	resp, err := client.Pipeline().Do(req)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	var body struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
		} `json:"value"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	var ids []string
	for _, v := range body.Value {
		ids = append(ids, v.SubscriptionID)
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.Join(ids, ","))
}

func helperRefusals(say func(k, v string)) {
	ep, secret := os.Getenv("IDENTITY_ENDPOINT"), os.Getenv("IDENTITY_HEADER")
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	do := func(name, method string, mutate func(*http.Request)) {
		req, _ := http.NewRequest(method, ep+"?api-version=2019-08-01&resource=https://vault.azure.net", nil)
		req.Header.Set("X-IDENTITY-HEADER", secret)
		mutate(req)
		resp, err := client.Do(req)
		if err != nil {
			say("refuse "+name, err.Error())
			return
		}
		resp.Body.Close()
		say("refuse "+name, fmt.Sprint(resp.StatusCode))
	}
	do("missing", http.MethodGet, func(r *http.Request) { r.Header.Del("X-IDENTITY-HEADER") })
	do("wrong", http.MethodGet, func(r *http.Request) { r.Header.Set("X-IDENTITY-HEADER", strings.Repeat("a", len(secret))) })
	do("host", http.MethodGet, func(r *http.Request) { r.Host = "attacker.example" })
	do("post", http.MethodPost, func(r *http.Request) {})
}

// A SIGKILLed azkeep leaves its dir; while its child lives the dir stays
// (the child still uses it); once both are gone the next exec removes it.
func TestExecSigkillLeavesDirForNextRun(t *testing.T) {
	if os.Getenv("AZKEEP_SIGKILL_HELPER") != "" {
		sigkillHelper()
		return
	}
	home := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	helper := exec.Command(os.Args[0], "-test.run=^TestExecSigkillLeavesDirForNextRun$")
	helper.Env = append(os.Environ(), "AZKEEP_SIGKILL_HELPER=1", "AZKEEP_HOME="+home, "CHILD_PID_FILE="+pidFile)
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	var childPid int
	for i := 0; i < 200 && childPid == 0; i++ {
		data, _ := os.ReadFile(pidFile)
		fmt.Sscan(string(data), &childPid)
		time.Sleep(50 * time.Millisecond)
	}
	if childPid == 0 {
		helper.Process.Kill()
		t.Fatal("helper's child never started")
	}
	helper.Process.Signal(syscall.SIGKILL)
	helper.Wait()
	entries, _ := os.ReadDir(execBase(home))
	if len(entries) != 1 {
		t.Fatalf("want the killed exec's dir, got %v", entries)
	}
	if removed, _ := sessiondir.Sweep(execBase(home)); len(removed) != 0 {
		t.Fatalf("swept a dir whose child still runs: %v", removed)
	}
	syscall.Kill(childPid, syscall.SIGKILL)
	for i := 0; i < 200 && syscall.Kill(childPid, 0) == nil; i++ {
		time.Sleep(10 * time.Millisecond) // reaped by init
	}
	var out, errw bytes.Buffer
	f := &fakeExecEnv{expires: time.Now().Add(time.Hour)}
	e := f.env(home, &out, &errw)
	if err := execRun(context.Background(), e, ExecOptions{Session: "x", Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(execBase(home)); len(entries) != 0 {
		t.Fatalf("next exec left %v", entries)
	}
}

func sigkillHelper() {
	f := &fakeExecEnv{expires: time.Now().Add(time.Hour)}
	e := f.env(os.Getenv("AZKEEP_HOME"), os.Stdout, os.Stderr)
	e.Environ = append(e.Environ, "CHILD_PID_FILE="+os.Getenv("CHILD_PID_FILE"))
	err := execRun(context.Background(), e, ExecOptions{Session: "x", Command: []string{"sh", "-c", `echo $$ > "$CHILD_PID_FILE"; exec sleep 300`}})
	fmt.Println(err)
	os.Exit(0)
}

// The agent's source for env dirs: an env dir is planned at expiry −
// window, and Rotate renews a due one through the lifecycle (az then
// serves the new token from that dir).
func TestEnvDirsAgentSource(t *testing.T) {
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 2})
	sub := b.emu.Tenants()[0].Subscriptions[1]
	var out bytes.Buffer
	e := b.execEnv(&out, io.Discard)
	if err := envRun(context.Background(), e, b.resolve, "bash", sub.Name, false); err != nil {
		t.Fatal(err)
	}
	src := withEnvDirs(staticSource{}, b.m, b.home)
	items, err := src.Plan(context.Background())
	if err != nil || len(items) != 1 || !strings.HasPrefix(items[0].ID, agent.EnvItemPrefix) {
		t.Fatalf("plan %+v, %v", items, err)
	}
	before, _ := sessiondir.ReadMarker(sessiondir.PersistentDir(b.home, strings.TrimPrefix(items[0].ID, agent.EnvItemPrefix)))
	if want := before.ExpiresAt.Add(-lifecycle.DefaultWindow); !items[0].Due.Equal(want) {
		t.Fatalf("due %v, want %v", items[0].Due, want)
	}
	// Not due: nothing happens.
	next, err := src.Rotate(context.Background(), items[0].ID)
	if err != nil || !next.Equal(items[0].Due) {
		t.Fatalf("rotate when not due: %v %v", next, err)
	}
	// Due (the marker says it expires now): renewed.
	dir := sessiondir.PersistentDir(b.home, before.SessionID)
	sessiondir.WriteMarker(dir, sessiondir.Marker{SessionID: before.SessionID, ExpiresAt: time.Now()})
	next, err = src.Rotate(context.Background(), items[0].ID)
	if err != nil || !next.After(time.Now()) {
		t.Fatalf("rotate when due: %v %v", next, err)
	}
	r := testbed.MustAZ(t, b.emu, dir, "account", "get-access-token", "--query", "subscription", "-o", "tsv")
	if strings.TrimSpace(r.Stdout) != sub.ID {
		t.Fatalf("az in the env dir: %s", r.Stdout)
	}
	if rts := testbed.RefreshTokens(testbed.ScanSecrets(dir)); len(rts) != 0 {
		t.Fatalf("refresh tokens in the env dir: %v", rts)
	}
}

type staticSource struct{}

func (staticSource) Plan(context.Context) ([]agent.Item, error) { return nil, nil }
func (staticSource) Rotate(context.Context, string) (time.Time, error) {
	return time.Time{}, errors.New("not an env item")
}

// pythonSDK is the Azure SDK for Python's check under exec --server:
// azure-identity (it comes with Debian's azure-cli package) gets tokens
// through ManagedIdentityCredential and DefaultAzureCredential.
const pythonSDK = `
import base64, json
from azure.identity import ManagedIdentityCredential, DefaultAzureCredential
creds = [("mi", ManagedIdentityCredential()), ("dac", DefaultAzureCredential(exclude_shared_token_cache_credential=True))]
for name, cred in creds:
    for scope in ["https://management.core.windows.net//.default", "https://vault.azure.net/.default"]:
        try:
            tok = cred.get_token(scope)
            part = tok.token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            print("py %s %s=%s" % (name, scope, claims["tid"]))
        except Exception as e:
            print("py %s %s=error %s" % (name, scope, type(e).__name__))
`

func TestExecE2EServerWithPythonSDK(t *testing.T) {
	py := "/usr/bin/python3"
	ok := exec.Command(py, "-c", "import azure.identity").Run() == nil
	testbed.Require(t, ok, "azure-identity for Python (installed with Debian's azure-cli package)")
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1, StrictRefresh: true})
	tn := b.emu.Tenants()[0]
	var out, errw bytes.Buffer
	b.emu.ResetRequests()
	err := execRun(context.Background(), b.execEnv(&out, &errw), ExecOptions{Session: tn.Subscriptions[0].ID, Server: true,
		Command: []string{py, "-c", pythonSDK}})
	if err != nil {
		t.Fatalf("exec: %v\n%s\n%s", err, out.String(), errw.String())
	}
	// ARM and vault.azure.net (a default resource) are in the exec dir
	// from the start: the endpoint serves them without a new grant. (The
	// emulator is strict, so a prefetch sent at once with another may be
	// refused and sent again: count the scopes granted.)
	granted := map[string]int{}
	for _, r := range b.emu.TokenRequests("") {
		if r.Status == http.StatusOK {
			granted[r.Scope]++
		}
	}
	if len(granted) != 5 {
		t.Errorf("scopes granted during the exec: %v, want the start's 5 (ARM, the default resources) once each", granted)
	}
	for scope, n := range granted {
		if n != 1 {
			t.Errorf("%s granted %d times", scope, n)
		}
	}
	for _, cred := range []string{"mi", "dac"} {
		for _, scope := range []string{armScope, vaultScope} {
			if want := fmt.Sprintf("py %s %s=%s", cred, scope, tn.ID); !strings.Contains(out.String(), want) {
				t.Errorf("missing %q in:\n%s", want, out.String())
			}
		}
	}
}
