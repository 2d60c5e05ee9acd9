package entraemu_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// TestTraceAZ prints what the real az sends for each command; run it by hand
// with ENTRAEMU_TRACE=1 go test -run TestTraceAZ -v ./internal/entraemu
// (docs/testing.md was written from its output). ENTRAEMU_TRACE_BROWSER=1
// gives az the test bed's stand-in browser.
func TestTraceAZ(t *testing.T) {
	if os.Getenv("ENTRAEMU_TRACE") == "" {
		t.Skip("set ENTRAEMU_TRACE=1 to trace az")
	}
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{Trace: true, Logf: t.Logf, TokenLifetime: 10 * 60e9})
	dir := testbed.NewConfigDir(t)
	if keep := os.Getenv("ENTRAEMU_TRACE_DIR"); keep != "" {
		dir = keep
		_ = testbed.PrepareConfigDir(dir)
	}
	ten := emu.Tenants()[0]
	sp := ten.ServicePrincipals[0]
	u := ten.Users[0]
	cmds := [][]string{
		{"login", "--use-device-code", "--tenant", ten.ID},
		{"account", "list"},
		{"account", "show"},
		{"account", "set", "--subscription", ten.Subscriptions[1].ID},
		{"account", "get-access-token", "--subscription", ten.Subscriptions[0].ID},
		{"account", "get-access-token", "--resource", "https://vault.azure.net"},
		{"logout"},
		{"login", "-u", u.Username, "-p", u.Password, "--tenant", ten.ID},
		{"logout"},
		{"login", "--service-principal", "-u", sp.AppID, "-p", sp.Secret, "--tenant", ten.ID},
		{"account", "get-access-token"},
		{"logout"},
	}
	if c := os.Getenv("ENTRAEMU_TRACE_CMDS"); c != "" {
		cmds = nil
		for _, line := range strings.Split(c, ";") {
			cmds = append(cmds, strings.Fields(line))
		}
	}
	for _, args := range cmds {
		t.Logf("===== az %s", strings.Join(args, " "))
		var extra []string
		if os.Getenv("ENTRAEMU_TRACE_BROWSER") != "" {
			extra = testbed.BrowserEnv(t)
		}
		r := testbed.AZWithEnv(context.Background(), emu, dir, extra, args...)
		t.Logf("exit %d in %v\nstdout: %s\nstderr: %s", r.Code, r.Took, r.Stdout, r.Stderr)
	}
}
