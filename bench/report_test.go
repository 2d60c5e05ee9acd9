package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/testbed"
)

// TestReport measures everything side by side in one run and prints the
// table of docs/performance.md. It runs only when AZKEEP_BENCH=1 (bench/run.sh
// sets it): it takes a couple of minutes, most of it the agent's idle
// minute and az's Python start-ups.
//
// AZKEEP_BENCH_N (default 9) is the number of samples per row;
// AZKEEP_BENCH_IDLE (default 60s) how long the idle agent is watched.
func TestReport(t *testing.T) {
	if os.Getenv("AZKEEP_BENCH") != "1" {
		t.Skip("set AZKEEP_BENCH=1 (or run bench/run.sh)")
	}
	testbed.RequireAZ(t)
	n := envInt("AZKEEP_BENCH_N", 9)
	idle := 60 * time.Second
	if v := os.Getenv("AZKEEP_BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		idle = d
	}
	type row struct {
		name   string
		median time.Duration
		note   string
	}
	var rows []row
	med := func(name string, f func(i int) time.Duration) time.Duration {
		f(0) // warm-up: connections, discovery cache, page cache
		var ds []time.Duration
		for i := 1; i <= n; i++ {
			ds = append(ds, f(i))
		}
		m := median(ds)
		rows = append(rows, row{name: name, median: m, note: fmt.Sprintf("min %s, max %s", ms(slices.Min(ds)), ms(slices.Max(ds)))})
		t.Logf("%s: median %s", name, ms(m))
		return m
	}

	nat := newEnv(t, "native", 2)
	poster := newRefreshPoster(t, nat.emu)
	azEnv := newEnv(t, "az", 2)
	rd := newRedeemer(t, azEnv.emu)
	var shm *env
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		shm = newEnvIn(t, "native", 2, "/dev/shm")
	}
	// The rows that are compared are measured interleaved, round by round,
	// so that a change in the machine's load hits all of them alike.
	type series struct {
		name string
		f    func(i int) time.Duration
		ds   []time.Duration
	}
	ser := []*series{
		{name: "bare refresh-token POST (the floor)", f: func(int) time.Duration { return poster.post(t) }},
		{name: "session start, engine native", f: func(i int) time.Duration { return nat.start(t, i) }},
		{name: "session start, engine az", f: func(i int) time.Duration { return azEnv.start(t, i) }},
		{name: "bare az account get-access-token, cached token (no request)", f: func(int) time.Duration { return azEnv.bareAZ(t) }},
		{name: "bare az account get-access-token, redeeming the refresh token", f: func(int) time.Duration { return rd.redeem(t) }},
	}
	if shm != nil {
		ser = append(ser, &series{name: "session start, engine native, files on tmpfs (no fsync cost)", f: func(i int) time.Duration { return shm.start(t, i) }})
	}
	for i := 0; i <= n; i++ {
		for _, x := range ser {
			d := x.f(i)
			if i > 0 { // round 0 warms up connections and caches
				x.ds = append(x.ds, d)
			}
		}
	}
	meds := map[string]time.Duration{}
	for _, x := range ser {
		m := median(x.ds)
		meds[x.name] = m
		rows = append(rows, row{name: x.name, median: m, note: fmt.Sprintf("min %s, max %s", ms(slices.Min(x.ds)), ms(slices.Max(x.ds)))})
	}
	post := meds[ser[0].name]
	natStart := meds[ser[1].name]
	azStart := meds[ser[2].name]
	bareAZ := meds[ser[3].name]
	bareRedeem := meds[ser[4].name]
	var natShm time.Duration
	if shm != nil {
		natShm = meds[ser[5].name]
	}

	bin := buildAzkeep(t)
	home := fillSessions(t, 10000, 0)
	list := med("azkeep session list, 10,000 sessions (process)", func(int) time.Duration {
		return runAzkeep(t, bin, home, "session", "list", "--output", "json")
	})
	table := med("azkeep session list, 10,000 sessions, table (process)", func(int) time.Duration {
		return runAzkeep(t, bin, home, "session", "list")
	})
	// nat's last start left a session active in its target dir.
	cr := newClientRig(t, nat, bin)
	tokenDs, kubectlDs, shimDs, azDs := clientRows(t, cr, n)
	for _, x := range []struct {
		name string
		ds   []time.Duration
	}{
		{"azkeep token, cached ARM token (process)", tokenDs},
		{"azkeep kubectl-credential, cached AKS token (process)", kubectlDs},
		{"Node AzureCliCredential.getToken in an exec child, through the az shim", shimDs},
		{"Node AzureCliCredential.getToken in an exec child, through the real az", azDs},
	} {
		rows = append(rows, row{name: x.name, median: median(x.ds), note: spread(x.ds)})
	}
	tokenMed, kubectlMed, shimMed, azMed := median(tokenDs), median(kubectlDs), median(shimDs), median(azDs)
	sr := newSyncRig(t, 5000)
	sync := med("integration sync, 5,000 subscriptions, excluding az", func(int) time.Duration { return sr.sync(t) })

	cpu, rss := agentIdle(t, bin, idle)

	var b strings.Builder
	fmt.Fprintf(&b, "\n%d samples per row (median; one warm-up first), %s/%s, %d CPUs, %s\n\n", n, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "| measurement | median | spread |\n|---|---:|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.name, ms(r.median), r.note)
	}
	fmt.Fprintf(&b, "| azkeep agent idle, 10 active sessions, %s | %.3f %% CPU, %.1f MB RSS | |\n", idle, cpu, rss)
	fmt.Fprintf(&b, "\n| ratio / criterion | value | target | |\n|---|---:|---|---|\n")
	check := func(name, value, target string, ok bool) {
		v := "ok"
		if !ok {
			v = "MISSED"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, value, target, v)
	}
	check("engine az start / engine native start", fmt.Sprintf("%.1f×", ratio(azStart, natStart)), "≥ 50×", ratio(azStart, natStart) >= 50)
	check("engine az start / bare az get-access-token (redeeming)", fmt.Sprintf("%.2f×", ratio(azStart, bareRedeem)), "≤ 1.1×", ratio(azStart, bareRedeem) <= 1.1)
	check("engine az start / bare az get-access-token (cached)", fmt.Sprintf("%.2f×", ratio(azStart, bareAZ)), "(information)", true)
	check("native start − bare POST", ms(natStart-post), "≤ 5 ms", natStart-post <= 5*time.Millisecond)
	if natShm > 0 {
		check("native start on tmpfs − bare POST", ms(natShm-post), "≤ 5 ms", natShm-post <= 5*time.Millisecond)
	}
	check("session list, 10,000 sessions", ms(list), "≤ 25 ms", list <= 25*time.Millisecond)
	check("session list, 10,000 sessions, table", ms(table), "≤ 25 ms", table <= 25*time.Millisecond)
	check("integration sync, 5,000 subscriptions", ms(sync), "(no target)", true)
	check("azkeep token, cached", ms(tokenMed), "(information)", true)
	check("kubectl-credential, cached", ms(kubectlMed), "≤ 10 ms", kubectlMed <= 10*time.Millisecond)
	check("Node AzureCliCredential through the shim", ms(shimMed), "≤ 30 ms", shimMed <= 30*time.Millisecond)
	check("Node AzureCliCredential through az", ms(azMed), "≥ 300 ms", azMed >= 300*time.Millisecond)
	check("agent idle CPU", fmt.Sprintf("%.3f %%", cpu), "< 0.1 %", cpu < 0.1)
	check("agent idle RSS", fmt.Sprintf("%.1f MB", rss), "≤ 20 MB", rss <= 20)
	fmt.Println(b.String())
	if out := os.Getenv("AZKEEP_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// agentIdle runs `azkeep agent` over 10 active sessions that are far from
// due and returns its CPU use (percent of one CPU) and resident set (MB)
// over d.
func agentIdle(t *testing.T, bin string, d time.Duration) (cpuPct, rssMB float64) {
	home := fillSessions(t, 10, 10)
	cmd := exec.Command(bin, "agent")
	cmd.Env = append(os.Environ(), "AZKEEP_HOME="+home, "AZURE_CONFIG_DIR="+filepath.Join(home, "azure"), "AZKEEP_VAULT=file")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	time.Sleep(2 * time.Second) // start-up is not idle
	t0, c0 := time.Now(), cpuTicks(t, cmd.Process.Pid)
	time.Sleep(d)
	t1, c1 := time.Now(), cpuTicks(t, cmd.Process.Pid)
	const hz = 100 // USER_HZ on Linux
	cpuPct = float64(c1-c0) / hz / t1.Sub(t0).Seconds() * 100
	return cpuPct, rssOf(t, cmd.Process.Pid)
}

func cpuTicks(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may hold spaces): state is 3rd,
	// utime 14th, stime 15th.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return u + k
}

func rssOf(t *testing.T, pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmRSS:") {
			kb, _ := strconv.ParseFloat(strings.Fields(sc.Text())[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
