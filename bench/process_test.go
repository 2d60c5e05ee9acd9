package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// benchPassphrase is the file vault's passphrase in the process rows.
const benchPassphrase = "azkeep bench passphrase"

// TestProcessReport measures what users run: whole azkeep processes on the
// real vaults (the Secret Service and pass of scripts/test.sh's private
// session, the file vault with its real KDF), next to the az engine and a
// bare redeeming `az account get-access-token`, every row interleaved round
// by round in one run; then the same native rows with 50 ms of latency at
// the emulator. It prints each of the Targets with its verdict.
//
// It runs when AZKEEP_BENCH=1 under scripts/test.sh (AZKEEP_TEST_INNER=1,
// which provides the private Secret Service and pass): bench/run.sh.
func TestProcessReport(t *testing.T) {
	if os.Getenv("AZKEEP_BENCH") != "1" {
		t.Skip("set AZKEEP_BENCH=1 (or run bench/run.sh)")
	}
	testbed.RequireAZ(t)
	testbed.Require(t, os.Getenv("AZKEEP_TEST_INNER") == "1", "scripts/test.sh's private Secret Service and pass")
	n := envInt("AZKEEP_BENCH_N", 9)
	bin := buildAzkeep(t)
	load0 := loadAvg()

	// Every cold row starts a subscription never started before in its
	// home, so that no parked token can serve it: 2 per round.
	near := testbed.Emulator(t, entraemu.Config{SubscriptionsPerTenant: 2*n + 4})
	ss := newProcEnv(t, bin, near, vault.SecretService, "native")
	ssAZ := newProcEnv(t, bin, near, vault.SecretService, "az")
	file := newProcEnv(t, bin, near, vault.File, "native")
	pass := newProcEnv(t, bin, near, vault.Pass, "native")
	back := newProcEnv(t, bin, near, vault.SecretService, "native")
	rd := newRedeemer(t, near)

	// The far emulator answers every request 50 ms late: one round trip
	// to a distant Entra. Each cold start takes a subscription never
	// started before, so nothing parked in the vault can serve it.
	far := testbed.Emulator(t, entraemu.Config{SubscriptionsPerTenant: 2*n + 4})
	far.SetLatency(50 * time.Millisecond)
	farSS := newProcEnv(t, bin, far, vault.SecretService, "native")
	farBack := newProcEnv(t, bin, far, vault.SecretService, "native")
	var backGrants []int

	type series struct {
		name string
		f    func(i int) time.Duration
		ds   []time.Duration
	}
	// One Secret Service call, in-process: what each vault read or write
	// of a command costs.
	sv, err := vault.Open(vault.SecretService, vault.Options{Home: t.TempDir(), Service: "azkeep-bench"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sv.Delete(context.Background(), "bench/item") })
	if err := sv.Set(context.Background(), "bench/item", []byte("x")); err != nil {
		t.Fatal(err)
	}
	vaultCall := func(f func(context.Context) error) time.Duration {
		t0 := time.Now()
		if err := f(context.Background()); err != nil {
			t.Fatal(err)
		}
		return time.Since(t0)
	}
	var fileRSS []float64
	ser := []*series{
		{name: "bare az account get-access-token, redeeming", f: func(int) time.Duration { return rd.redeem(t) }},
		{name: "start, az engine, Secret Service", f: func(i int) time.Duration {
			ssAZ.stop(t)
			return ssAZ.run(t, "session", "start", ssAZ.subs[2*i]).took
		}},
		{name: "start, native, Secret Service", f: func(i int) time.Duration {
			ss.stop(t)
			return ss.run(t, "session", "start", ss.subs[2*i]).took
		}},
		{name: "switch, native, Secret Service", f: func(i int) time.Duration {
			return ss.run(t, "session", "start", ss.subs[2*i+1]).took
		}},
		{name: "switch back to a recent session, native, Secret Service", f: func(i int) time.Duration {
			back.run(t, "session", "start", back.subs[0])
			back.run(t, "session", "start", back.subs[1])
			return back.run(t, "session", "start", back.subs[0]).took
		}},
		{name: "stop, native, Secret Service", f: func(i int) time.Duration {
			return ss.run(t, "session", "stop").took
		}},
		{name: "start, native, file vault", f: func(i int) time.Duration {
			file.stop(t)
			r := file.run(t, "session", "start", file.subs[2*i])
			fileRSS = append(fileRSS, r.maxRSS)
			return r.took
		}},
		{name: "start, native, pass", f: func(i int) time.Duration {
			pass.stop(t)
			return pass.run(t, "session", "start", pass.subs[2*i]).took
		}},
		{name: "Secret Service: one read (in-process)", f: func(int) time.Duration {
			return vaultCall(func(ctx context.Context) error { _, err := sv.Get(ctx, "bench/item"); return err })
		}},
		{name: "Secret Service: one write (in-process)", f: func(i int) time.Duration {
			return vaultCall(func(ctx context.Context) error { return sv.Set(ctx, "bench/item", []byte(fmt.Sprint(i))) })
		}},
		{name: "50 ms: cold start, native, Secret Service", f: func(i int) time.Duration {
			farSS.stop(t)
			return farSS.run(t, "session", "start", farSS.subs[2+i]).took
		}},
		{name: "50 ms: switch back to a recent session, native, Secret Service", f: func(i int) time.Duration {
			farBack.run(t, "session", "start", farBack.subs[0])
			farBack.run(t, "session", "start", farBack.subs[1])
			before := grants(far)
			d := farBack.run(t, "session", "start", farBack.subs[0]).took
			backGrants = append(backGrants, grants(far)-before)
			return d
		}},
	}
	for i := 0; i <= n; i++ {
		for _, x := range ser {
			d := x.f(i)
			if i > 0 { // round 0 warms up connections and caches
				x.ds = append(x.ds, d)
			}
		}
	}
	med := map[string]time.Duration{}
	var b strings.Builder
	fmt.Fprintf(&b, "\nwhole processes: %d samples per row (median; one warm-up round first), interleaved; %s at the start, %s at the end\n\n", n, load0, loadAvg())
	fmt.Fprintf(&b, "| measurement | median | spread |\n|---|---:|---|\n")
	for _, x := range ser {
		med[x.name] = median(x.ds)
		fmt.Fprintf(&b, "| %s | %s | min %s, max %s |\n", x.name, ms(med[x.name]), ms(slices.Min(x.ds)), ms(slices.Max(x.ds)))
	}
	rss := slices.Max(fileRSS[1:])
	fmt.Fprintf(&b, "\n| target | value | target | |\n|---|---:|---|---|\n")
	check := func(name, value, target string, ok bool) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, value, target, map[bool]string{true: "met", false: "MISSED"}[ok])
	}
	le := func(name string, d time.Duration) {
		check(name, ms(med[name]), "≤ "+ms(d), med[name] <= d)
	}
	le("start, native, Secret Service", 15*time.Millisecond)
	le("switch, native, Secret Service", 15*time.Millisecond)
	le("switch back to a recent session, native, Secret Service", 15*time.Millisecond)
	r := ratio(med["start, az engine, Secret Service"], med["start, native, Secret Service"])
	check("az engine start / native start, Secret Service", fmt.Sprintf("%.1f×", r), "≥ 25×", r >= 25)
	le("stop, native, Secret Service", 10*time.Millisecond)
	le("start, native, file vault", 20*time.Millisecond)
	check("start, native, file vault: peak memory", fmt.Sprintf("%.1f MB", rss), "≤ 30 MB", rss <= 30)
	le("50 ms: switch back to a recent session, native, Secret Service", 15*time.Millisecond)
	g := slices.Max(backGrants[1:])
	check("50 ms: switch back: token requests", fmt.Sprint(g), "0", g == 0)
	le("50 ms: cold start, native, Secret Service", 65*time.Millisecond)
	r = ratio(med["start, az engine, Secret Service"], med["bare az account get-access-token, redeeming"])
	check("az engine start / bare redeeming az get-access-token", fmt.Sprintf("%.2f×", r), "≤ 1.1×", r <= 1.1)
	check("start, native, pass", ms(med["start, native, pass"]), "(information)", true)
	fmt.Println(b.String())
	if out := os.Getenv("AZKEEP_BENCH_OUT_PROCESS"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// procEnv is an azkeep home with one logged-in integration in a real
// vault, and the environment a user's shell would give azkeep.
type procEnv struct {
	bin  string
	env  []string
	subs []string
}

func newProcEnv(t *testing.T, bin string, emu *entraemu.Emulator, backend, eng string) *procEnv {
	t.Helper()
	base := t.TempDir()
	ws, err := workspace.Open(filepath.Join(base, "home"))
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(base, "azure")
	if err := testbed.PrepareConfigDir(target); err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(backend, vault.Options{Home: ws.Dir(), Passphrase: func() ([]byte, error) { return []byte(benchPassphrase), nil }})
	if err != nil {
		t.Fatal(err)
	}
	m := &lifecycle.Manager{WS: ws, Vault: v, Files: lifecycle.AZFiles{},
		Engine: &native.Engine{Client: emu.Client()}, AZ: lifecycle.NativeLogin{Client: emu.Client()}, TargetDir: target}
	ctx := context.Background()
	ten := emu.Tenants()[0]
	in, err := m.CreateIntegration(ctx, lifecycle.IntegrationSpec{Alias: "bench", Tenant: ten.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Login(ctx, "bench", lifecycle.LoginOptions{DeviceCode: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Delete(context.Background(), in.Alias) })
	p := &procEnv{bin: bin}
	for _, s := range ten.Subscriptions {
		p.subs = append(p.subs, s.ID)
	}
	p.env = append(testbed.AZEnv(emu, target),
		"AZKEEP_HOME="+ws.Dir(), "AZKEEP_VAULT="+backend, "AZKEEP_ENGINE="+eng,
		vault.PassphraseEnv+"="+benchPassphrase)
	return p
}

type procResult struct {
	took   time.Duration
	maxRSS float64 // MB
}

// run runs azkeep with args and returns its wall time, start to exit, and
// its peak resident set.
func (p *procEnv) run(t *testing.T, args ...string) procResult {
	t.Helper()
	cmd := exec.Command(p.bin, args...)
	cmd.Env = p.env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The peak resident set is sampled from /proc (VmHWM): wait4's
	// ru_maxrss would count the forking test binary's, which exec keeps.
	done := make(chan struct{})
	peak := make(chan float64, 1)
	go func() {
		var max float64
		defer func() { peak <- max }()
		for {
			if v := peakRSS(cmd.Process.Pid); v > max {
				max = v
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	d := time.Since(t0)
	close(done)
	rss := <-peak
	if err != nil {
		t.Fatalf("azkeep %s: %v\n%s", strings.Join(args, " "), err, firstLines(out.String(), 5))
	}
	return procResult{took: d, maxRSS: rss}
}

// stop stops the active session, if any (untimed).
func (p *procEnv) stop(t *testing.T) {
	t.Helper()
	cmd := exec.Command(p.bin, "session", "stop")
	cmd.Env = p.env
	_ = cmd.Run() // fails when nothing is active
}

// grants counts the token requests emu has answered.
func grants(emu *entraemu.Emulator) int {
	n := 0
	for _, r := range emu.Requests() {
		if r.GrantType != "" {
			n++
		}
	}
	return n
}

// loadAvg is the machine's load average, printed next to the figures: the
// machine may be shared.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load average unknown"
	}
	f := strings.Fields(string(data))
	return "load average " + strings.Join(f[:3], " ")
}

// TestProcessSyscalls prints, for one native start and one stop on the
// Secret Service, the fsync calls and the files renamed into place (each
// an atomic write), from strace: each file should be written once.
func TestProcessSyscalls(t *testing.T) {
	if os.Getenv("AZKEEP_BENCH") != "1" {
		t.Skip("set AZKEEP_BENCH=1 (or run bench/run.sh)")
	}
	testbed.Require(t, os.Getenv("AZKEEP_TEST_INNER") == "1", "scripts/test.sh's private Secret Service")
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("no strace")
	}
	emu := testbed.Emulator(t, entraemu.Config{SubscriptionsPerTenant: 2})
	p := newProcEnv(t, buildAzkeep(t), emu, vault.SecretService, "native")
	for _, args := range [][]string{{"session", "start", p.subs[0]}, {"session", "start", p.subs[1]}, {"session", "stop"}} {
		log := filepath.Join(t.TempDir(), "strace")
		cmd := exec.Command("strace", append([]string{"-f", "-qq", "-T", "-o", log, "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", p.bin}, args...)...)
		cmd.Env = p.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("strace azkeep %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		data, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		fsyncs, renamed := 0, map[string]int{}
		for _, line := range strings.Split(string(data), "\n") {
			switch {
			case strings.Contains(line, "fsync(") || strings.Contains(line, "fdatasync("):
				fsyncs++
			case strings.Contains(line, "rename"):
				// renameat(…, "…tmp", AT_FDCWD, "…/name") = 0: count the
				// target's base name, the last quoted path.
				if j := strings.LastIndexByte(line, '"'); j > 0 {
					if i := strings.LastIndexByte(line[:j], '"'); i >= 0 {
						renamed[filepath.Base(line[i+1:j])]++
					}
				}
			}
		}
		t.Logf("azkeep %s: %d fsync, renamed into place: %v", args[:2], fsyncs, renamed)
		if os.Getenv("AZKEEP_BENCH_STRACE_RAW") != "" {
			t.Log(string(data))
		}
	}
}

// peakRSS is the VmHWM of pid in MB (0 once it has exited).
func peakRSS(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
