package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/testbed"
)

// azkeepBin builds cmd/azkeep once (without -race: the file vault's scrypt
// under the race detector takes longer than the vault's time bound on a
// busy machine) so the tests run the real `azkeep agent` process.
func azkeepBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "azkeep-agent-e2e-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "azkeep")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/azkeep/azkeep/cmd/azkeep").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// Rotation-holds parameters, from the issue: 6-minute access tokens and a
// 5½-minute window (az treats a token with less than 5 minutes left as
// expired, so a rotation every ~30 s keeps it usable).
const (
	tokenLifetime = 6 * time.Minute
	window        = "5m30s"
	holdFor       = 4*time.Minute + 30*time.Second
	sampleEvery   = 5 * time.Second
	// Without the agent the first token has 5 minutes left after 60 s.
	failWithin = 75 * time.Second
)

// rig is one emulator, one azkeep home and one target dir, driven through
// the real azkeep binary and the real az.
type rig struct {
	t      *testing.T
	emu    *entraemu.Emulator
	home   string
	target string
	env    []string
	sub    string
	bin    string
}

func newRig(t *testing.T, engineName string, resources ...string) *rig {
	emu := testbed.Emulator(t, entraemu.Config{TokenLifetime: tokenLifetime, StrictRefresh: true, SubscriptionsPerTenant: 1})
	r := &rig{t: t, emu: emu, home: filepath.Join(t.TempDir(), "home"), target: testbed.NewConfigDir(t)}
	r.bin = azkeepBin(t)
	r.env = append(testbed.AZEnv(emu, r.target),
		"AZKEEP_HOME="+r.home,
		"AZKEEP_VAULT=file",
		"AZKEEP_VAULT_PASSPHRASE=rotation-holds-test",
		"AZKEEP_ROTATE_WINDOW="+window,
		"AZKEEP_ENGINE="+engineName,
	)
	ten := emu.Tenants()[0]
	r.sub = ten.Subscriptions[0].ID
	create := []string{"integration", "create", "--alias", "contoso", "--tenant", ten.ID}
	for _, res := range resources {
		create = append(create, "--resource", res)
	}
	r.azkeep(create...)
	r.azkeep("integration", "login", "contoso", "--device-code")
	if out, err := r.command("session", "start", r.sub).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "not available in this build") {
			// TODO(lead): internal/cli/deps.go newEngine, case "native".
			t.Skipf("engine %s is not wired into the CLI yet: %s", engineName, firstLines(string(out), 1))
		}
		t.Fatalf("azkeep session start: %v\n%s", err, out)
	}
	return r
}

func (r *rig) command(args ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, args...)
	cmd.Env = r.env
	return cmd
}

func (r *rig) azkeep(args ...string) string {
	r.t.Helper()
	out, err := r.command(args...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("azkeep %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sample runs what a user runs and reports the first problem, or "".
func (r *rig) sample(ctx context.Context) string {
	res := testbed.AZ(ctx, r.emu, r.target, "account", "get-access-token", "--output", "json")
	if !res.OK() {
		return "az account get-access-token: " + res.String()
	}
	res = testbed.AZ(ctx, r.emu, r.target, "account", "show", "--output", "json")
	if !res.OK() || !strings.Contains(res.Stdout, r.sub) {
		return "az account show: " + res.String()
	}
	// The target dir at rest (no rotation holding the procedures' lock)
	// holds no refresh token.
	unlock, err := fileutil.Lock(ctx, filepath.Join(r.home, "lifecycle.lock"))
	if err != nil {
		return "lock: " + err.Error()
	}
	defer unlock()
	for _, f := range testbed.ScanSecrets(r.target) {
		if f.Kind == "refresh_token" {
			return fmt.Sprintf("refresh token at rest in %s (%s %s)", f.Path, f.Section, f.Key)
		}
	}
	return ""
}

// TestRotationHolds is the "rotation holds" criterion, run against
// the real az: with the agent running (engine az, and engine native) az
// keeps working for over four minutes (about eight rotations, every
// refresh token single-use); without it the same loop fails within the
// first minute. The subtests run in parallel: about 5 minutes in all.
func TestRotationHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 5 minutes; run without -short")
	}
	testbed.RequireAZ(t)
	for _, engineName := range []string{"az", "native"} {
		t.Run("agent-"+engineName, func(t *testing.T) {
			t.Parallel()
			holdsWithAgent(t, engineName)
		})
	}
	t.Run("no-agent", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, "az")
		start := time.Now()
		for time.Since(start) < 2*failWithin {
			if p := r.sample(context.Background()); p != "" {
				t.Logf("without the agent az failed after %s: %s", time.Since(start).Round(time.Second), firstLines(p, 6))
				if d := time.Since(start); d > failWithin {
					t.Errorf("failed only after %s", d)
				}
				return
			}
			time.Sleep(sampleEvery)
		}
		t.Errorf("az kept working for %s without the agent: the test would not catch a broken agent", 2*failWithin)
	})
}

func holdsWithAgent(t *testing.T, engineName string) {
	r := newRig(t, engineName)
	var logMu sync.Mutex
	var log bytes.Buffer
	agentCmd := r.command("agent")
	agentCmd.Stderr = &lockedWriter{mu: &logMu, w: &log}
	agentCmd.Stdout = agentCmd.Stderr
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- agentCmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			agentCmd.Process.Kill()
			<-exited
		}
		logMu.Lock()
		t.Logf("agent log:\n%s", log.String())
		logMu.Unlock()
	}()
	grants0 := r.emu.CountGrants(entraemu.GrantRefreshToken)
	start := time.Now()
	samples := 0
	for time.Since(start) < holdFor {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("the agent exited: %v", err)
		default:
		}
		if p := r.sample(context.Background()); p != "" {
			t.Fatalf("after %s (%d samples): %s", time.Since(start).Round(time.Second), samples, firstLines(p, 10))
		}
		samples++
		time.Sleep(sampleEvery)
	}
	rotations := r.emu.CountGrants(entraemu.GrantRefreshToken) - grants0
	t.Logf("engine %s: %d samples over %s, %d refresh grants", engineName, samples, time.Since(start).Round(time.Second), rotations)
	if rotations < 6 {
		t.Errorf("only %d refresh grants in %s; want about eight rotations (a rotation every 30–40 s)", rotations, holdFor)
	}
	// SIGTERM: a clean exit, status file removed.
	if err := agentCmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("agent exit after SIGTERM: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the agent did not stop within a minute of SIGTERM")
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(log.String(), "agent stopped") {
		t.Error("the agent did not log its stop")
	}
	if _, err := os.Stat(filepath.Join(r.home, "agent.json")); !os.IsNotExist(err) {
		t.Error("agent.json left behind")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// SIGTERM while a rotation is in flight: the agent finishes it and exits 0,
// and the cache, the state file and the vault agree — shown by the next
// forced rotation succeeding in strict mode (the vault holds the one live
// refresh token) and az working from the cache with no refresh token on disk.
func TestSIGTERMDuringRotation(t *testing.T) {
	testbed.RequireAZ(t)
	r := newRig(t, "az")
	// Due one second after the start: 6-minute tokens, 5m59s window.
	r.env = append(r.env, "AZKEEP_ROTATE_WINDOW=5m59s")
	r.emu.SetLatency(3 * time.Second) // the token endpoint answers slowly
	var log bytes.Buffer
	var mu sync.Mutex
	cmd := r.command("agent")
	cmd.Stderr = &lockedWriter{mu: &mu, w: &log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Wait until a rotation holds the procedures' lock, then SIGTERM.
	lock := filepath.Join(r.home, "lifecycle.lock")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no rotation started; log:\n%s", log.String())
		}
		unlock, err := fileutil.LockTimeout(lock, 10*time.Millisecond)
		if err != nil {
			break // held: a rotation is in progress
		}
		unlock()
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("agent exit: %v", err)
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("agent did not stop")
	}
	mu.Lock()
	out := log.String()
	mu.Unlock()
	t.Logf("agent log:\n%s", out)
	if !strings.Contains(out, "agent stopped") || strings.Contains(out, "canceled") {
		t.Errorf("the agent did not stop cleanly after finishing the rotation in flight")
	}
	r.emu.SetLatency(0)
	if p := r.sample(context.Background()); p != "" {
		t.Fatalf("after the stop: %s", p)
	}
	// The vault holds the live refresh token: a forced rotation works
	// with single-use refresh tokens.
	r.azkeep("session", "rotate", "--force")
	if p := r.sample(context.Background()); p != "" {
		t.Fatalf("after a forced rotation: %s", p)
	}
}

// Native is a drop-in, through the CLI: after `session start` with the
// native engine, the real az answers get-access-token for ARM and for each
// prefetched resource, and account show, with no token request at all; after
// `session stop` az is logged out.
func TestNativeStartIsADropInForAz(t *testing.T) {
	testbed.RequireAZ(t)
	resources := []string{"https://vault.azure.net", "https://storage.azure.com", "https://graph.microsoft.com"}
	r := newRig(t, "native", resources...)
	ctx := context.Background()
	r.emu.ResetRequests()
	for _, args := range [][]string{
		{"account", "get-access-token", "--output", "json"},
		{"account", "get-access-token", "--resource", resources[0], "--output", "json"},
		{"account", "get-access-token", "--resource", resources[1], "--output", "json"},
		{"account", "get-access-token", "--resource", resources[2], "--output", "json"},
		{"account", "show", "--output", "json"},
	} {
		if res := testbed.AZ(ctx, r.emu, r.target, args...); !res.OK() {
			t.Fatalf("az %s: %s", strings.Join(args, " "), res)
		}
	}
	for _, q := range r.emu.Requests() {
		if strings.HasSuffix(q.Path, "/oauth2/v2.0/token") {
			t.Errorf("az sent a token request: %v", q)
		}
	}
	if p := r.sample(ctx); p != "" {
		t.Fatal(p)
	}
	r.azkeep("session", "stop")
	if res := testbed.AZ(ctx, r.emu, r.target, "account", "get-access-token", "--output", "json"); res.OK() {
		t.Errorf("az still answers after session stop: %s", res.Stdout)
	}
	if res := testbed.AZ(ctx, r.emu, r.target, "account", "show", "--output", "json"); res.OK() {
		t.Errorf("az account show works after session stop: %s", res.Stdout)
	}
}

// A refresh token the endpoint rejects (the user was revoked) marks the
// integration needs-login; the agent says so once and stops trying.
func TestAgentReportsNeedsLoginOnce(t *testing.T) {
	testbed.RequireAZ(t)
	r := newRig(t, "native")
	r.env = append(r.env, "AZKEEP_ROTATE_WINDOW=5m59s") // due a second after the start
	if err := r.emu.RevokeUser(r.emu.Tenants()[0].Users[0].Username); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log bytes.Buffer
	cmd := r.command("agent")
	cmd.Stderr = &lockedWriter{mu: &mu, w: &log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	text := func() string {
		mu.Lock()
		defer mu.Unlock()
		return log.String()
	}
	deadline := time.Now().Add(45 * time.Second)
	for !strings.Contains(text(), "needs a new login") {
		if time.Now().After(deadline) {
			t.Fatalf("no needs-login report; log:\n%s", text())
		}
		time.Sleep(200 * time.Millisecond)
	}
	grants := r.emu.CountGrants(entraemu.GrantRefreshToken)
	time.Sleep(5 * time.Second) // the agent must not keep trying
	if n := strings.Count(text(), "needs a new login"); n != 1 {
		t.Errorf("reported %d times:\n%s", n, text())
	}
	if g := r.emu.CountGrants(entraemu.GrantRefreshToken); g != grants {
		t.Errorf("%d more refresh grants after the rejection", g-grants)
	}
	if !strings.Contains(text(), "azkeep integration login contoso") {
		t.Errorf("the log does not say what to run:\n%s", text())
	}
	if out := r.azkeep("integration", "list"); !strings.Contains(out, "needs-login") {
		t.Errorf("integration list:\n%s", out)
	}
}
