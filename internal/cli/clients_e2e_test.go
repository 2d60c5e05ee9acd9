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
	"os/exec"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/entraemu"
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
			// The same in an exec child.
			var out, errw bytes.Buffer
			err := execRun(context.Background(), b.execEnv(&out, &errw), ExecOptions{Session: tn.Subscriptions[0].ID,
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
