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

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/testbed"
)

// aksScope is the AKS server application's scope (kubectl-credential).
const aksScope = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"

// clientRig runs credential clients against e's active session with the
// azkeep binary: azkeep token, kubectl-credential, and Node's
// AzureCliCredential in an exec-like child, through the az shim or the
// real az.
type clientRig struct {
	e       *env
	bin     string
	modules string
	script  string
	// shimEnv and azEnv are an exec child's environment (per-session dir,
	// AZKEEP_SESSION) with and without the shim first on PATH.
	shimEnv, azEnv []string
}

// newClientRig needs e's session active in e.target. It caches the AKS
// token there and materializes the session into a dir of its own as
// azkeep exec does, with a shim dir holding bin linked as az.
func newClientRig(t *testing.T, e *env, bin string) *clientRig {
	t.Helper()
	ctx := context.Background()
	if _, err := e.m.Token(ctx, lifecycle.TokenRequest{Scope: aksScope}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "exec")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := testbed.PrepareConfigDir(dir); err != nil {
		t.Fatal(err)
	}
	cur, err := e.m.Current()
	if err != nil || cur == nil {
		t.Fatalf("no active session: %v", err)
	}
	mat, err := e.m.MaterializeInto(ctx, cur.ID, dir, filepath.Join(e.home, "exec"))
	if err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(t.TempDir(), "azkeep-az-shim")
	if err := os.MkdirAll(shim, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(shim, "az")); err != nil {
		t.Fatal(err)
	}
	az, err := azcli.Find()
	if err != nil {
		t.Fatal(err)
	}
	nodeDir, err := filepath.Abs(filepath.Join("..", "internal", "cli", "testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	r := &clientRig{e: e, bin: bin, script: filepath.Join(nodeDir, "identity.js")}
	r.modules = testbed.NPMModules(t, filepath.Join(nodeDir, "package.json"), "@azure/identity")
	base := append(testbed.AZEnv(e.emu, dir), "AZKEEP_HOME="+e.home, "AZKEEP_VAULT=file", "AZKEEP_SESSION="+mat.Session.ID,
		"AZKEEP_AZ="+az, "NODE_PATH="+r.modules)
	r.azEnv = slices.Concat(base, []string{"PATH=" + os.Getenv("PATH")})
	r.shimEnv = slices.Concat(base, []string{"PATH=" + shim + string(os.PathListSeparator) + os.Getenv("PATH")})
	return r
}

// process times one azkeep run on the active session in e.target.
func (r *clientRig) process(t *testing.T, args ...string) time.Duration {
	cmd := exec.Command(r.bin, args...)
	cmd.Env = append(os.Environ(), "AZKEEP_HOME="+r.e.home, "AZURE_CONFIG_DIR="+r.e.target, "AZKEEP_VAULT=file")
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(t0)
	if err != nil || !strings.Contains(string(out), "eyJ") {
		t.Fatalf("azkeep %s: %v\n%s", strings.Join(args, " "), err, firstLines(string(out), 5))
	}
	return d
}

// nodeCLI runs Node's AzureCliCredential.getToken calls times in one
// process (the shim's or the real az's environment) and returns each
// call's time.
func (r *clientRig) nodeCLI(t *testing.T, env []string, calls int) []time.Duration {
	cmd := exec.Command("node", r.script, "--bench", strconv.Itoa(calls), "https://management.azure.com/.default")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node AzureCliCredential: %v\n%s", err, firstLines(string(out), 10))
	}
	var ds []time.Duration
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "ms="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Duration(f*float64(time.Millisecond)))
		}
	}
	if len(ds) != calls {
		t.Fatalf("node printed %d timings, want %d:\n%s", len(ds), calls, out)
	}
	return ds
}

// clientRows measures the rows of the clients, interleaved round by round.
func clientRows(t *testing.T, r *clientRig, n int) (token, kubectl, shim, az []time.Duration) {
	for i := 0; i <= n; i++ {
		tk := r.process(t, "token")
		kc := r.process(t, "kubectl-credential")
		sh := r.nodeCLI(t, r.shimEnv, 3)
		a := r.nodeCLI(t, r.azEnv, 1)
		if i == 0 {
			continue // warm-up
		}
		token, kubectl = append(token, tk), append(kubectl, kc)
		shim, az = append(shim, sh...), append(az, a...)
	}
	return
}

func spread(ds []time.Duration) string {
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return fmt.Sprintf("min %s, max %s, %d samples", ms(lo), ms(hi), len(ds))
}
