//go:build unix

package cli

// End-to-end tests of what clients other than az's own commands ask a
// session for: the scopes the JS and Python SDKs request, on-demand tokens,
// proxies, kubectl and git.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/shellenv"
	"github.com/azkeep/azkeep/internal/testbed"
)

// defaultAudiences are the resources a session carries by default and the
// audience each token must have.
var defaultAudiences = map[string]string{
	"https://management.azure.com": "https://management.azure.com",
	"https://vault.azure.net":      "https://vault.azure.net",
	"https://graph.microsoft.com":  "https://graph.microsoft.com",
	"https://storage.azure.com":    "https://storage.azure.com",
}

func checkAZToken(t *testing.T, r testbed.Result, aud, tenant string) {
	t.Helper()
	if !r.OK() {
		t.Errorf("az account get-access-token for %s: %s", aud, r)
		return
	}
	var tok struct{ AccessToken string }
	if err := json.Unmarshal([]byte(r.Stdout), &tok); err != nil {
		t.Errorf("%s: %v", aud, err)
		return
	}
	c, err := entraemu.ParseClaims(tok.AccessToken)
	if err != nil {
		t.Errorf("%s: %v", aud, err)
		return
	}
	if c.String("aud") != aud || c.String("tid") != tenant {
		t.Errorf("token for %s has aud %v, tid %v", aud, c.String("aud"), c.String("tid"))
	}
}

// F1: the JS and Python SDKs ask az for https://management.azure.com (and
// Key Vault, Graph, Storage); with no refresh token on disk az can serve
// only what the session fetched, so a session fetches them by default.
func TestDefaultScopesServedByRealAZ(t *testing.T) {
	for _, eng := range []string{"native", "az"} {
		t.Run(eng, func(t *testing.T) {
			b := newExecBedEngine(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1}, eng)
			tn := b.emu.Tenants()[0]
			resources := []string{"https://management.azure.com"}
			if eng == "native" {
				resources = []string{"https://management.azure.com", "https://vault.azure.net", "https://graph.microsoft.com", "https://storage.azure.com"}
			}
			for _, res := range resources {
				r := testbed.AZ(context.Background(), b.emu, b.target, "account", "get-access-token", "--resource", res, "--output", "json")
				checkAZToken(t, r, defaultAudiences[res], tn.ID)
			}
			// The same in an exec child, from the real az.
			var out, errw bytes.Buffer
			err := execRun(context.Background(), b.execEnv(&out, &errw), ExecOptions{Session: tn.Subscriptions[0].ID, NoAZShim: true,
				Command: []string{"az", "account", "get-access-token", "--resource", "https://management.azure.com", "--output", "json"}})
			if err != nil {
				t.Fatalf("exec: %v\n%s", err, errw.String())
			}
			checkAZToken(t, testbed.Result{Stdout: out.String()}, "https://management.azure.com", tn.ID)
			if strings.Contains(errw.String(), "warning") {
				t.Errorf("warnings: %s", errw.String())
			}
		})
	}
}

const pythonMI = `
import base64, json, sys
from azure.identity import ManagedIdentityCredential
cred = ManagedIdentityCredential()
for scope in sys.argv[1:]:
    try:
        tok = cred.get_token(scope)
        part = tok.token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        print("py %s aud=%s tid=%s" % (scope, claims["aud"], claims["tid"]))
    except Exception as e:
        print("py %s error %s %s" % (scope, type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
`

// deadProxy is a proxy that refuses every connection: a request that goes
// through it fails.
var deadProxy = []string{"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9"}

// F4: with a proxy set, the SDKs sent the managed-identity request to
// 127.0.0.1 through it; exec --server names loopback in NO_PROXY. A scope
// the session does not carry (Cosmos DB) costs one grant for it alone.
func TestExecServerBehindProxyPython(t *testing.T) {
	py := "/usr/bin/python3"
	testbed.Require(t, exec.Command(py, "-c", "import azure.identity").Run() == nil, "azure-identity for Python (installed with Debian's azure-cli package)")
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1, StrictRefresh: true})
	tn := b.emu.Tenants()[0]
	var out, errw bytes.Buffer
	b.emu.ResetRequests()
	e := b.execEnv(&out, &errw, deadProxy...)
	scopes := []string{"https://management.azure.com/.default", "https://management.core.windows.net//.default", "https://vault.azure.net/.default", "https://graph.microsoft.com/.default", "https://cosmos.azure.com/.default"}
	err := execRun(context.Background(), e, ExecOptions{Session: tn.Subscriptions[0].ID, Server: true,
		Command: append([]string{py, "-c", pythonMI}, scopes...)})
	if err != nil {
		t.Fatalf("exec: %v\n%s\n%s", err, out.String(), errw.String())
	}
	for _, scope := range scopes {
		aud := strings.TrimSuffix(scope, "/.default")
		if want := fmt.Sprintf("py %s aud=%s tid=%s", scope, aud, tn.ID); !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
	var cosmos []string
	for _, r := range b.emu.TokenRequests("") {
		if strings.Contains(r.Scope, "cosmos") {
			cosmos = append(cosmos, r.String())
		}
	}
	if len(cosmos) != 1 {
		t.Errorf("grants for cosmos: %v, want one", cosmos)
	}
}

// setDefault makes sub az's default in dir as `az account set` does after
// `az account list --refresh` brought the tenant's other subscriptions in.
func setDefault(t *testing.T, dir, sub string, others ...azconfig.Subscription) {
	t.Helper()
	err := azconfig.UpdateProfile(context.Background(), dir, func(p *azconfig.Profile) error {
		for _, o := range others {
			o := o
			p.Subscriptions = append(p.Subscriptions, &o)
		}
		for _, s := range p.Subscriptions {
			s.IsDefault = strings.EqualFold(s.ID, sub)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// F3: `az account set` to another subscription of the integration is
// followed (that session becomes the active one, and the next rotation
// keeps it), never silently undone; one azkeep does not know is a warning.
func TestAZAccountSetFollowed(t *testing.T) {
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 3})
	tn := b.emu.Tenants()[0]
	ctx := context.Background()
	p, err := azconfig.LoadProfile(b.target)
	if err != nil || len(p.Subscriptions) != 1 {
		t.Fatalf("profile: %v %v", p, err)
	}
	// Two subscriptions az learnt, one of them (sub 2) unknown to azkeep.
	sub1, sub2 := *p.Subscriptions[0], *p.Subscriptions[0]
	sub1.ID, sub1.Name = tn.Subscriptions[1].ID, tn.Subscriptions[1].Name
	sub2.ID, sub2.Name = "99999999-9999-9999-9999-999999999999", "stranger"
	setDefault(t, b.target, tn.Subscriptions[1].ID, sub1, sub2)
	testbed.MustAZ(t, b.emu, b.target, "account", "set", "--subscription", tn.Subscriptions[1].ID)

	var errw bytes.Buffer
	b.m.IO.Err = &errw
	if _, err := b.m.LazyRotate(ctx); err != nil {
		t.Fatal(err)
	}
	cur, err := b.m.Current()
	if err != nil || cur == nil || cur.SubscriptionID != tn.Subscriptions[1].ID {
		t.Fatalf("current session %+v (%v), want subscription %s; stderr: %s", cur, err, tn.Subscriptions[1].ID, errw.String())
	}
	if _, err := b.m.Rotate(ctx, "", true); err != nil {
		t.Fatal(err)
	}
	if r := testbed.MustAZ(t, b.emu, b.target, "account", "show", "-o", "json"); !strings.Contains(r.Stdout, tn.Subscriptions[1].ID) {
		t.Errorf("after rotation az shows %s", r.Stdout)
	}

	// A subscription azkeep has no session for: a warning with a hint.
	setDefault(t, b.target, sub2.ID, sub2)
	errw.Reset()
	if _, err := b.m.LazyRotate(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errw.String(), "azkeep: warning: az's default subscription") || !strings.Contains(errw.String(), "azkeep integration sync") {
		t.Errorf("no warning for an unknown default subscription: %q", errw.String())
	}
}

// buildAzkeep builds the azkeep binary for tests that run it as a child of
// a real client (kubectl, git, Node).
func buildAzkeep(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "azkeep")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/azkeep/azkeep/cmd/azkeep")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// checkBearer is an HTTP handler wrapper that lets through only requests
// whose bearer token (or Basic password) the emulator issued for aud in
// tenant.
func checkBearer(t *testing.T, aud, tenant string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			_, tok, ok = r.BasicAuth()
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "no credentials", http.StatusUnauthorized)
			return
		}
		c, err := entraemu.ParseClaims(tok)
		if err != nil || c.String("aud") != aud || c.String("tid") != tenant {
			t.Logf("refused a token (aud %v, tid %v): %v", c.String("aud"), c.String("tid"), err)
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "wrong token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// aksAPI is a loopback API server that answers /version to a request with
// an AKS token of tenant, and primes the token the plugin serves from the
// cache (a child azkeep cannot reach this test's memory vault).
func aksAPI(t *testing.T, b *execBed, tenant string) *httptest.Server {
	t.Helper()
	if _, err := b.m.Token(context.Background(), lifecycle.TokenRequest{Scope: AKSServerID + "/.default"}); err != nil {
		t.Fatal(err)
	}
	api := httptest.NewTLSServer(checkBearer(t, AKSServerID, tenant, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"major":"1","minor":"30","gitVersion":"v1.30.0-azkeep-test"}`)
	})))
	t.Cleanup(api.Close)
	return api
}

// The real kubectl runs `get --raw /version` against a loopback API server
// that wants an AKS token of the session's tenant, through azkeep
// kubectl-credential as its exec credential plugin.
func TestKubectlCredentialRealKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	testbed.Require(t, err == nil, "kubectl (Debian kubernetes-client)")
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1})
	tn := b.emu.Tenants()[0]
	api := aksAPI(t, b, tn.ID)
	bin := buildAzkeep(t)
	kubeconfig := filepath.Join(t.TempDir(), "config")
	for _, ver := range []string{"v1beta1", "v1"} {
		interactive := ""
		if ver == "v1" {
			interactive = "\n      interactiveMode: Never" // required by v1
		}
		cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: aks
  cluster:
    server: %s
    insecure-skip-tls-verify: true
contexts:
- name: aks
  context: {cluster: aks, user: azkeep}
current-context: aks
users:
- name: azkeep
  user:
    exec:
      apiVersion: client.authentication.k8s.io/%s
      command: %s
      args: [kubectl-credential]%s
      env:
      - {name: AZKEEP_HOME, value: %s}
      - {name: AZURE_CONFIG_DIR, value: %s}
`, api.URL, ver, bin, interactive, b.home, b.target)
		if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "--raw", "/version")
		cmd.Env = append(os.Environ(), "AZKEEP_VAULT=file")
		out, err := cmd.CombinedOutput()
		if ver == "v1" && err != nil && strings.Contains(string(out), "v1") && strings.Contains(string(out), "no kind") {
			t.Logf("this kubectl does not know ExecCredential v1: %s", out)
			continue
		}
		if err != nil || !strings.Contains(string(out), "v1.30.0-azkeep-test") {
			t.Errorf("kubectl with %s: %v\n%s", ver, err, out)
		}
	}
}

// azShimScript runs, in an exec child, what the SDKs' AzureCliCredential
// runs (through the az shim on PATH), the real az for comparison, and an
// az command the shim hands on.
const azShimScript = `
for r in https://management.azure.com https://management.core.windows.net/ https://vault.azure.net https://graph.microsoft.com; do
	echo "== resource $r"; az account get-access-token --output json --resource "$r" || echo FAILED
done
echo "== scope https://graph.microsoft.com"; az account get-access-token -o json --scope https://graph.microsoft.com/.default || echo FAILED
echo "== query"; az account get-access-token --query accessToken -o tsv || echo FAILED
echo "== shim arm"; az account get-access-token --resource https://management.core.windows.net/ -o json || echo FAILED
echo "== real arm"; "$AZKEEP_AZ" account get-access-token --resource https://management.core.windows.net/ -o json || echo FAILED
echo "== show"; az account show -o json || echo FAILED
echo "== which"; command -v az
`

// sections splits the output of azShimScript at its "== name" lines.
func sections(out string) map[string]string {
	m := map[string]string{}
	var name string
	for _, line := range strings.SplitAfter(out, "\n") {
		if n, ok := strings.CutPrefix(line, "== "); ok {
			name = strings.TrimSpace(n)
			continue
		}
		m[name] += line
	}
	return m
}

// F5: in an exec child, az account get-access-token is answered by the
// shim for ARM (both audiences), Key Vault and Graph, byte for byte as az
// prints it; az account show runs the real az.
func TestAZShimInExec(t *testing.T) {
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1})
	tn := b.emu.Tenants()[0]
	sub := tn.Subscriptions[0].ID
	var out, errw bytes.Buffer
	err := execRun(context.Background(), b.execEnv(&out, &errw), ExecOptions{Session: sub, Command: []string{"sh", "-c", azShimScript}})
	if err != nil {
		t.Fatalf("exec: %v\n%s", err, errw.String())
	}
	sec := sections(out.String())
	if !strings.Contains(sec["which"], azShimDir) {
		t.Errorf("az in the child is %q, not the shim", sec["which"])
	}
	for _, res := range []string{"https://management.azure.com", "https://management.core.windows.net/", "https://vault.azure.net", "https://graph.microsoft.com"} {
		r := sec["resource "+res]
		checkAZToken(t, testbed.Result{Stdout: r}, res, tn.ID)
		if !strings.Contains(r, `"subscription": "`+sub+`"`) {
			t.Errorf("%s: no subscription in %s", res, r)
		}
	}
	checkAZToken(t, testbed.Result{Stdout: sec["scope https://graph.microsoft.com"]}, "https://graph.microsoft.com", tn.ID)
	if q := strings.TrimSpace(sec["query"]); strings.Count(q, ".") != 2 || strings.ContainsAny(q, "\" \t") {
		t.Errorf("--query accessToken -o tsv printed %q", q)
	}
	// The shim's answer is az's, byte for byte (az before 2.54 prints no
	// expires_on), but for expiresOn: az computes it from the seconds left
	// and the clock, which can put it a second off the cache's expiry.
	shim, real := sec["shim arm"], sec["real arm"]
	expiresOn := regexp.MustCompile(`"expiresOn": "([0-9: .-]+)"`)
	expiresOnEpoch := regexp.MustCompile(`"expires_on": ([0-9]+)`)
	var when [2]time.Time
	for i, s := range []string{shim, real} {
		m := expiresOn.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("no expiresOn in %s", s)
		}
		if when[i], err = time.ParseInLocation("2006-01-02 15:04:05.000000", m[1], time.Local); err != nil {
			t.Fatal(err)
		}
	}
	if d := when[0].Sub(when[1]); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("expiresOn: the shim says %s, az %s", when[0], when[1])
	}
	shim, real = expiresOn.ReplaceAllString(shim, "EXPIRES"), expiresOn.ReplaceAllString(real, "EXPIRES")
	// expires_on (az ≥ 2.54) is epoch seconds, a second apart as well.
	if a, b := expiresOnEpoch.FindStringSubmatch(shim), expiresOnEpoch.FindStringSubmatch(real); a != nil && b != nil {
		x, _ := strconv.ParseInt(a[1], 10, 64)
		y, _ := strconv.ParseInt(b[1], 10, 64)
		if x-y < -2 || x-y > 2 {
			t.Errorf("expires_on: the shim says %d, az %d", x, y)
		}
		shim, real = expiresOnEpoch.ReplaceAllString(shim, `"expires_on": EPOCH`), expiresOnEpoch.ReplaceAllString(real, `"expires_on": EPOCH`)
	}
	if !strings.Contains(real, `"expires_on"`) {
		var lines []string
		for _, l := range strings.SplitAfter(shim, "\n") {
			if !strings.Contains(l, `"expires_on"`) {
				lines = append(lines, l)
			}
		}
		shim = strings.Join(lines, "")
	}
	if shim != real {
		t.Errorf("the shim prints\n%s\nthe real az\n%s", shim, real)
	}
	if !strings.Contains(sec["show"], sub) || strings.Contains(sec["show"], "FAILED") {
		t.Errorf("az account show through the shim: %s\n%s", sec["show"], errw.String())
	}
	if strings.Contains(out.String(), "FAILED") {
		t.Errorf("a command failed:\n%s\n%s", out.String(), errw.String())
	}
}

// nodeClients returns the node_modules dir with the real @azure/identity
// and the path of testdata/node/identity.js.
func nodeClients(t *testing.T) (modules, script string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	return testbed.NPMModules(t, filepath.Join(dir, "package.json"), "@azure/identity"), filepath.Join(dir, "identity.js")
}

// The real @azure/identity in an exec --server child, behind a proxy:
// AzureCliCredential (through the az shim), DefaultAzureCredential and
// ManagedIdentityCredential get tokens for ARM (both audiences), Key Vault
// and Graph. DefaultAzureCredential may probe 169.254.169.254: the test runs
// in a loopback-only network namespace.
func TestNodeIdentityInExec(t *testing.T) {
	modules := os.Getenv("AZKEEP_TEST_NODE_MODULES")
	if modules == "" {
		var script string
		modules, script = nodeClients(t)
		if !testbed.InLoopbackNetns(t, "AZKEEP_TEST_NODE_MODULES="+modules, "AZKEEP_TEST_NODE_SCRIPT="+script) {
			return
		}
	}
	script := os.Getenv("AZKEEP_TEST_NODE_SCRIPT")
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1})
	tn := b.emu.Tenants()[0]
	ca := envValue(b.emu.Env(), "SSL_CERT_FILE")
	var out, errw bytes.Buffer
	e := b.execEnv(&out, &errw, "NODE_PATH="+modules, "NODE_EXTRA_CA_CERTS="+ca,
		"HTTP_PROXY="+b.emu.ProxyURL(), "http_proxy="+b.emu.ProxyURL())
	scopes := sdkScopes
	err := execRun(context.Background(), e, ExecOptions{Session: tn.Subscriptions[0].ID, Server: true,
		Command: append([]string{"node", script}, scopes...)})
	if err != nil {
		t.Fatalf("exec: %v\n%s\n%s", err, out.String(), errw.String())
	}
	checkSDKTokens(t, out.String(), "js", tn.ID)
	t.Logf("node said:\n%s\nstderr:\n%s", out.String(), errw.String())
}

// An on-demand token (azkeep token, kubectl-credential) redeemed into the
// session's active dir joins the tokens there: az still serves ARM from
// that dir afterwards. Both engines dropped the dir's other access tokens.
func TestTokenKeepsTheDirsTokens(t *testing.T) {
	for _, eng := range []string{"native", "az"} {
		t.Run(eng, func(t *testing.T) {
			b := newExecBedEngine(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1}, eng)
			tn := b.emu.Tenants()[0]
			if _, err := b.m.Token(context.Background(), lifecycle.TokenRequest{Scope: AKSServerID + "/.default"}); err != nil {
				t.Fatal(err)
			}
			for _, res := range []string{"https://management.core.windows.net/", AKSServerID} {
				r := testbed.AZ(context.Background(), b.emu, b.target, "account", "get-access-token", "--resource", res, "--output", "json")
				checkAZToken(t, r, res, tn.ID)
			}
		})
	}
}

// The real git clones https://dev.azure.com/org/project/_git/repo, served
// by `git http-backend` behind the emulator (the proxy git goes through),
// which wants an Azure DevOps token of the session's tenant as the Basic
// password; git gets it from azkeep git-credential as its helper.
func TestGitCredentialRealGit(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	testbed.Require(t, err == nil, "git")
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1})
	tn := b.emu.Tenants()[0]
	// The token the helper serves from the cache (a child azkeep cannot
	// reach this test's memory vault).
	if _, err := b.m.Token(context.Background(), lifecycle.TokenRequest{Scope: AzureDevOpsResource + "/.default"}); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	env := append(os.Environ(), "HOME="+tmp, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
	git := func(dir string, env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command(gitBin, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	work, root := filepath.Join(tmp, "work"), filepath.Join(tmp, "root")
	git(tmp, env, "init", "-q", work)
	if err := os.WriteFile(filepath.Join(work, "README"), []byte("served by git http-backend\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	git(work, env, "add", "README")
	git(work, env, "commit", "-q", "-m", "first")
	git(tmp, env, "clone", "-q", "--bare", work, filepath.Join(root, "repo"))

	var authed atomic.Int32
	backend := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"}, Root: "/org/project/_git",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	b.emu.Handle("dev.azure.com", checkBearer(t, AzureDevOpsResource, tn.ID, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authed.Add(1)
		backend.ServeHTTP(w, r)
	})))

	bin := buildAzkeep(t)
	cloneEnv := append(env, "HTTPS_PROXY="+b.emu.ProxyURL(), "https_proxy="+b.emu.ProxyURL(), "NO_PROXY=", "no_proxy=",
		"GIT_SSL_CAINFO="+b.emu.CAPath(), "AZKEEP_HOME="+b.home, "AZURE_CONFIG_DIR="+b.target, "AZKEEP_VAULT=file")
	clone := filepath.Join(tmp, "clone")
	git(tmp, cloneEnv, "-c", "credential.helper=", "-c", "credential.helper="+bin+" git-credential",
		"clone", "-q", "https://dev.azure.com/org/project/_git/repo", clone)
	if got, err := os.ReadFile(filepath.Join(clone, "README")); err != nil || string(got) != "served by git http-backend\n" {
		t.Errorf("cloned README: %q, %v", got, err)
	}
	if authed.Load() == 0 {
		t.Error("no request carried the token")
	}
}

// azkeep env --az-shim: in the shell it sets up, az is the shim, which
// answers az account get-access-token from the env dir; env --unset takes
// it off PATH again, and az is the real one.
func TestEnvAZShim(t *testing.T) {
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1})
	tn := b.emu.Tenants()[0]
	sub := tn.Subscriptions[0]
	var lines bytes.Buffer
	e := b.execEnv(&lines, io.Discard)
	if err := envRun(context.Background(), e, b.resolve, shellenv.Bash, sub.ID, true); err != nil {
		t.Fatal(err)
	}
	s, _, err := b.resolve(sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(sessiondir.PersistentDir(b.home, s.ID), azShimDir)
	after := setEnv(slices.Clone(e.Environ), [][2]string{{"PATH", shim + ":" + envValue(e.Environ, "PATH")}, {SessionEnv, s.ID}})
	var unset bytes.Buffer
	if err := envUnset(IO{Out: &unset}, shellenv.Bash, after); err != nil {
		t.Fatal(err)
	}
	script := lines.String() + `
echo "== which"; command -v az
echo "== vault"; az account get-access-token --resource https://vault.azure.net -o json || echo FAILED
` + unset.String() + `
echo "== unset"; command -v az
`
	cmd := exec.Command("bash", "--norc", "-c", script)
	cmd.Env = e.Environ
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sec := sections(string(out))
	if got := strings.TrimSpace(sec["which"]); got != filepath.Join(shim, "az") {
		t.Errorf("az in the env shell is %q, want the shim in %s", got, shim)
	}
	checkAZToken(t, testbed.Result{Stdout: sec["vault"]}, "https://vault.azure.net", tn.ID)
	if got := strings.TrimSpace(sec["unset"]); got == "" || strings.Contains(got, azShimDir) {
		t.Errorf("az after env --unset is %q", got)
	}
}

// A kubeconfig as az aks get-credentials writes it (kubelogin devicecode),
// converted by kubeconfig convert, works with the real kubectl: the user
// runs "azkeep kubectl-credential SESSION" found on PATH.
func TestKubeconfigConvertRealKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	testbed.Require(t, err == nil, "kubectl (Debian kubernetes-client)")
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1})
	tn := b.emu.Tenants()[0]
	api := aksAPI(t, b, tn.ID)
	bin := buildAzkeep(t)
	in := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- cluster:
    insecure-skip-tls-verify: true
    server: %s
  name: aks
contexts:
- context:
    cluster: aks
    user: clusterUser_rg_aks
  name: aks
current-context: aks
users:
- name: clusterUser_rg_aks
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      args: [get-token, --environment, AzurePublicCloud, --server-id, %s, --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, --tenant-id, %s, --login, devicecode]
      command: kubelogin
      env: null
      installHint: kubelogin is not installed
      provideClusterInfo: false
`, api.URL, AKSServerID, tn.ID)
	st, err := b.m.WS.Load()
	if err != nil {
		t.Fatal(err)
	}
	out, n, err := convertKubeconfig([]byte(in), st, "")
	if err != nil || n != 1 {
		t.Fatalf("convert: %d users, %v", n, err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "--raw", "/version")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"AZKEEP_HOME="+b.home, "AZURE_CONFIG_DIR="+b.target, "AZKEEP_VAULT=file")
	res, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(res), "v1.30.0-azkeep-test") {
		t.Errorf("kubectl with the converted kubeconfig: %v\n%s\n%s", err, res, out)
	}
}

// pythonCreds runs Python azure-identity's AzureCliCredential (which runs
// `az account get-access-token`: the az shim in an exec child),
// DefaultAzureCredential and ManagedIdentityCredential for each scope.
const pythonCreds = `
import base64, json, sys
from azure.identity import AzureCliCredential, DefaultAzureCredential, ManagedIdentityCredential
creds = [("cli", AzureCliCredential()), ("dac", DefaultAzureCredential(exclude_shared_token_cache_credential=True)), ("mi", ManagedIdentityCredential())]
for name, cred in creds:
    for scope in sys.argv[1:]:
        try:
            tok = cred.get_token(scope)
            part = tok.token.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
            print("py %s %s aud=%s tid=%s" % (name, scope, claims["aud"], claims["tid"]))
        except Exception as e:
            print("py %s %s error %s %s" % (name, scope, type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
`

// The real Python azure-identity (Debian's python3-azure) in an exec
// --server child, behind a proxy that refuses everything: AzureCliCredential
// (through the az shim), DefaultAzureCredential and ManagedIdentityCredential
// get tokens for ARM (both audiences), Key Vault and Graph. In a
// loopback-only network namespace, as DefaultAzureCredential may probe the
// instance-metadata address.
func TestPythonIdentityInExec(t *testing.T) {
	py := "/usr/bin/python3"
	testbed.Require(t, exec.Command(py, "-c", "import azure.identity").Run() == nil, "azure-identity for Python (installed with Debian's azure-cli package)")
	if !testbed.InLoopbackNetns(t) {
		return
	}
	b := newExecBed(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1})
	tn := b.emu.Tenants()[0]
	var out, errw bytes.Buffer
	e := b.execEnv(&out, &errw, deadProxy...)
	scopes := sdkScopes
	err := execRun(context.Background(), e, ExecOptions{Session: tn.Subscriptions[0].ID, Server: true,
		Command: append([]string{py, "-c", pythonCreds}, scopes...)})
	if err != nil {
		t.Fatalf("exec: %v\n%s\n%s", err, out.String(), errw.String())
	}
	checkSDKTokens(t, out.String(), "py", tn.ID)
	t.Logf("python said:\n%s\nstderr:\n%s", out.String(), errw.String())
}

// sdkScopes are the scopes the SDK tests ask each credential for: ARM under
// both audiences, Key Vault and Graph.
var sdkScopes = []string{"https://management.azure.com/.default", "https://management.core.windows.net//.default", "https://vault.azure.net/.default", "https://graph.microsoft.com/.default"}

// checkSDKTokens checks that an SDK script printed, for its AzureCliCredential
// (cli), DefaultAzureCredential (dac) and ManagedIdentityCredential (mi), a
// token of each of sdkScopes with the scope's audience and tenant, as
// "<lang> <cred> <scope> aud=<aud> tid=<tenant>" lines.
func checkSDKTokens(t *testing.T, out, lang, tenant string) {
	t.Helper()
	for _, cred := range []string{"cli", "dac", "mi"} {
		for _, scope := range sdkScopes {
			aud := strings.TrimSuffix(scope, "/.default")
			if want := fmt.Sprintf("%s %s %s aud=%s tid=%s", lang, cred, scope, aud, tenant); !strings.Contains(out, want) {
				t.Errorf("missing %q", want)
			}
		}
	}
}
