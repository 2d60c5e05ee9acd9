//go:build linux

package cli

// The crash suite: azkeep (the binary: this test binary under the name
// azkeep, see TestMain) is killed with SIGKILL at random points of mixed
// operations against the emulator with single-use refresh tokens, for both
// engines and the file and Secret Service vaults. After each kill every
// file azkeep or az keeps parses, the next azkeep command (a start)
// succeeds with the login intact, and no refresh token rests in clear
// under AZKEEP_HOME or the target dir.
//
// A SIGKILL hits azkeep alone, as kill -9 or the OOM killer do: an az it
// started runs on, holding the procedures' lock it inherited, and the next
// command waits for it. (An az killed itself after the endpoint answered
// and before it wrote the rotated token loses it: single-use tokens leave
// nothing to recover from.) azkeep writes a rotated token into its journal
// before it asks the vault to store it, so only a kill between the
// endpoint's answer and that write (the token then exists in the killed
// process alone) can lose it: the table counts such losses apart ("in
// flight"): the vault's refresh token is spent (the emulator says) and no
// refresh token is on disk for a recovery to find. Any other loss is
// azkeep's.
//
// CI runs a few operations per pair; scripts/crash.sh runs the full count
// (AZKEEP_CRASH_OPS) and prints the table (AZKEEP_CRASH_TABLE).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// crashRow is one line of the suite's table.
type crashRow struct {
	engine, vault                         string
	ops, kills, losses, inFlight, inClear int
}

func TestCrash(t *testing.T) {
	testbed.RequireAZ(t)
	azkeep, err := exec.LookPath("azkeep")
	if err != nil {
		t.Fatalf("azkeep is not on PATH (TestMain puts this test binary there): %v", err)
	}
	// CI: a few operations within its time bound (an az call costs about
	// half a second, so the az engine gets fewer).
	counts := map[string]int{"native": 6, "az": 3}
	if s := os.Getenv("AZKEEP_CRASH_OPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("AZKEEP_CRASH_OPS=%q: want a positive count", s)
		}
		counts = map[string]int{"native": n, "az": n}
	} else if testing.Short() {
		t.Skip("the crash suite runs azkeep and az many times")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("AZKEEP_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (AZKEEP_CRASH_SEED)", seed)
	var rows []crashRow
	for _, vaultName := range []string{vault.File, vault.SecretService} {
		for _, eng := range []string{"native", "az"} {
			t.Run(eng+"/"+vaultName, func(t *testing.T) {
				if vaultName == vault.SecretService && (os.Getenv("AZKEEP_TEST_INNER") != "1" || os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "") {
					testbed.Require(t, false, "the Secret Service of scripts/test.sh's private bus")
				}
				c := newCrashBed(t, azkeep, eng, vaultName, rand.New(rand.NewSource(seed)))
				row := c.run(t, counts[eng])
				rows = append(rows, row)
				if row.losses > 0 || row.inClear > 0 {
					t.Errorf("%d losses, %d refresh tokens in clear over %d operations (%d kills)", row.losses, row.inClear, row.ops, row.kills)
				}
			})
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s %-15s %10s %6s %7s %10s %16s\n", "engine", "vault", "operations", "kills", "losses", "in flight", "tokens in clear")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-7s %-15s %10d %6d %7d %10d %16d\n", r.engine, r.vault, r.ops, r.kills, r.losses, r.inFlight, r.inClear)
	}
	t.Logf("crash suite:\n%s", b.String())
	if p := os.Getenv("AZKEEP_CRASH_TABLE"); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
			t.Error(err)
		}
	}
}

type crashBed struct {
	emu                  *entraemu.Emulator
	azkeep, home, target string
	engine, vault        string
	env                  []string
	subs                 []string
	rng                  *rand.Rand
	// est is each operation's usual duration, the range kills fall in.
	est map[string]time.Duration
}

func newCrashBed(t *testing.T, azkeep, eng, vaultName string, rng *rand.Rand) *crashBed {
	t.Helper()
	emu := testbed.Emulator(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 2, StrictRefresh: true})
	work := t.TempDir()
	c := &crashBed{emu: emu, azkeep: azkeep, home: filepath.Join(work, "azkeep"), target: filepath.Join(work, "azure"),
		engine: eng, vault: vaultName, rng: rng, est: map[string]time.Duration{}}
	if err := testbed.PrepareConfigDir(c.target); err != nil {
		t.Fatal(err)
	}
	c.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(work, "home"),
		"AZURE_CONFIG_DIR=" + c.target,
		"AZKEEP_HOME=" + c.home,
		"AZKEEP_VAULT=" + vaultName,
		"AZKEEP_ENGINE=" + eng,
		"AZKEEP_VAULT_TIMEOUT=2m",
		"GORACE=atexit_sleep_ms=0",
		"AZURE_CORE_COLLECT_TELEMETRY=false",
		"AZURE_CORE_NO_COLOR=true",
		"PYTHONWARNINGS=ignore",
		"https_proxy=" + emu.ProxyURL(),
	}
	c.env = append(c.env, emu.Env()...)
	for _, k := range []string{"DBUS_SESSION_BUS_ADDRESS", "TMPDIR"} {
		if v := os.Getenv(k); v != "" {
			c.env = append(c.env, k+"="+v)
		}
	}
	if vaultName == vault.File {
		// A file vault made with a low scrypt cost: each command opens it.
		c.env = append(c.env, vault.PassphraseEnv+"=crash-passphrase")
		t.Setenv(vault.PassphraseEnv, "crash-passphrase")
		s, err := vault.Open(vault.File, vault.Options{Home: c.home, ScryptWorkFactor: 10})
		if err == nil {
			err = s.Set(t.Context(), "crash/init", []byte("x"))
		}
		if err == nil {
			err = s.Delete(t.Context(), "crash/init")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	tn := emu.Tenants()[0]
	for _, s := range tn.Subscriptions {
		c.subs = append(c.subs, s.ID)
	}
	c.must(t, "integration", "create", "--alias", "emu", "--tenant", tn.ID)
	c.must(t, "integration", "login", "emu", "--device-code")
	c.must(t, "session", "start", c.subs[0])
	return c
}

// ops are the operations the suite mixes.
func (c *crashBed) ops() map[string][]string {
	return map[string][]string{
		"start":  {"session", "start", c.subs[0]},
		"switch": {"session", "start", c.subs[1]},
		"rotate": {"session", "rotate", "--force"},
		"stop":   {"session", "stop"},
		"sync":   {"integration", "sync", "emu"},
		"exec":   {"exec", c.subs[0], "--", "true"},
	}
}

var crashOpNames = []string{"start", "switch", "rotate", "stop", "sync", "exec"}

func (c *crashBed) run(t *testing.T, n int) crashRow {
	row := crashRow{engine: c.engine, vault: c.vault}
	ops := c.ops()
	for row.ops < n {
		name := crashOpNames[c.rng.Intn(len(crashOpNames))]
		killed, res := c.runKilled(t, name, ops[name])
		row.ops++
		if killed {
			row.kills++
		} else if res.code != 0 {
			t.Errorf("%s (not killed) failed: %s", name, res.stderr)
		}
		if !killed && name != "stop" {
			c.checkFiles(t, name)
			continue
		}
		// An az the killed azkeep started runs on, holding the lock.
		c.waitForOrphans(t)
		inFlight := killed && c.lostInFlight(t)
		c.checkFiles(t, name)
		// The next command: a start, which must find the login intact.
		next := c.azkeepRun(t, "session", "start", c.subs[c.rng.Intn(len(c.subs))])
		lost := next.code != 0
		if st, err := c.state(); err != nil {
			t.Errorf("after %s: state: %v", name, err)
		} else {
			for _, in := range st.Integrations {
				lost = lost || in.Status == workspace.NeedsLogin
			}
		}
		// A start can succeed on a lost login: a session parked with
		// valid access tokens starts without a grant. The vault's spent
		// token with none on disk is the loss, whatever the start did.
		lost = lost || inFlight
		if lost {
			if inFlight {
				row.inFlight++
				t.Logf("after %s: killed between the endpoint's answer and the vault's write", name)
			} else {
				row.losses++
				t.Errorf("after %s (killed: %v): the login was lost: %s", name, killed, next.stderr)
			}
			c.must(t, "integration", "login", "emu", "--device-code")
		}
		for _, dir := range []string{c.home, c.target} {
			for _, f := range testbed.RefreshTokens(testbed.ScanSecrets(dir)) {
				row.inClear++
				t.Errorf("after %s: %s", name, f)
			}
		}
	}
	return row
}

// lostInFlight reports whether a loss after a kill was in flight: the
// vault holds a spent refresh token and no refresh token is on disk for a
// recovery to find, so the rotated one existed only in the killed process
// (or in its unfinished vault write).
func (c *crashBed) lostInFlight(t *testing.T) bool {
	t.Helper()
	st, err := c.state()
	if err != nil || len(st.Integrations) == 0 {
		return false
	}
	s, err := vault.Open(c.vault, vault.Options{Home: c.home})
	if err != nil {
		t.Errorf("open the vault: %v", err)
		return false
	}
	frag, err := s.Get(t.Context(), lifecycle.VaultKey(st.Integrations[0].ID, "refresh-token"))
	if err != nil {
		t.Errorf("read the vault's refresh token: %v", err)
		return false
	}
	cache, err := azconfig.ParseTokenCache(frag)
	if err != nil {
		t.Errorf("the vault's refresh token item: %v", err)
		return false
	}
	for _, rt := range cache.RefreshTokens.All() {
		if c.emu.RefreshTokenLive(rt.Secret) {
			return false
		}
	}
	for _, dir := range []string{c.home, c.target} {
		if len(testbed.RefreshTokens(testbed.ScanSecrets(dir))) > 0 {
			return false
		}
	}
	return true
}

// waitForOrphans waits until no az started by a killed azkeep holds the
// procedures' lock.
func (c *crashBed) waitForOrphans(t *testing.T) {
	t.Helper()
	h, err := fileutil.LockHeld(ctxTimeout(t, 3*time.Minute), filepath.Join(c.home, "lifecycle.lock"))
	if err != nil {
		t.Fatalf("the procedures' lock stayed held: %v", err)
	}
	h.Unlock()
}

type crashResult struct {
	code   int
	stderr string
}

// runKilled runs one operation and kills azkeep (alone) at a random point
// of its usual duration; killed is false when it finished first.
func (c *crashBed) runKilled(t *testing.T, name string, args []string) (killed bool, res crashResult) {
	t.Helper()
	// Kills fall anywhere in an operation's usual duration, its last
	// moments included; until one run finished undisturbed, anywhere in
	// three seconds.
	est, ok := c.est[name]
	if !ok {
		est = 3 * time.Second
	}
	delay := time.Duration(c.rng.Int63n(int64(est)*6/5 + 1))
	var stderr bytes.Buffer
	cmd := c.command(args, &stderr)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
		// An undisturbed run teaches the usual duration.
		c.est[name] = (est + time.Since(start)) / 2
		if !ok {
			c.est[name] = time.Since(start)
		}
	case <-time.After(delay):
		killed = cmd.Process.Signal(syscall.SIGKILL) == nil
		err = <-done
	}
	return killed, crashResult{code: exitCode(err), stderr: stderr.String()}
}

func (c *crashBed) command(args []string, stderr *bytes.Buffer) *exec.Cmd {
	cmd := exec.Command(c.azkeep, args...)
	cmd.Env = c.env
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (c *crashBed) azkeepRun(t *testing.T, args ...string) crashResult {
	t.Helper()
	var stderr bytes.Buffer
	err := c.command(args, &stderr).Run()
	return crashResult{code: exitCode(err), stderr: stderr.String()}
}

func (c *crashBed) must(t *testing.T, args ...string) {
	t.Helper()
	if r := c.azkeepRun(t, args...); r.code != 0 {
		t.Fatalf("azkeep %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func (c *crashBed) state() (*workspace.State, error) {
	ws, err := workspace.Open(c.home)
	if err != nil {
		return nil, err
	}
	return ws.Load()
}

// checkFiles: after a kill, every file azkeep writes or az reads parses.
func (c *crashBed) checkFiles(t *testing.T, op string) {
	t.Helper()
	if _, err := c.state(); err != nil {
		t.Errorf("after %s: state.json: %v", op, err)
	}
	files := []string{
		filepath.Join(c.target, "msal_token_cache.json"),
		filepath.Join(c.target, "azureProfile.json"),
	}
	idx, _ := filepath.Glob(filepath.Join(c.home, "vault", "*", "index.json"))
	for _, p := range append(files, idx...) {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		if err != nil || !json.Valid(data) {
			t.Errorf("after %s: %s does not parse (%v)", op, p, err)
		}
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
