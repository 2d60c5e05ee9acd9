package azcli_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/term"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// An interactive device-code login with the real az against the emulator:
// the prompt reaches the given terminal and the cache holds the account.
func TestRealLoginDeviceCode(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{})
	tenant := emu.Tenants()[0]
	dir := testbed.NewConfigDir(t)
	r := azcli.New(azcli.Options{Env: testbed.AZEnv(emu, "")})
	var out, errb strings.Builder
	err := r.Login(context.Background(), azcli.LoginOptions{ConfigDir: dir, Tenant: tenant.ID, DeviceCode: true, Throwaway: true,
		In: strings.NewReader(""), Out: &out, Err: &errb})
	if err != nil {
		t.Fatalf("login: %v\nstderr: %s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "devicelogin") && !strings.Contains(errb.String(), "code") {
		t.Errorf("device code prompt not shown: %q", errb.String())
	}
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Accounts.Len() != 1 || c.RefreshTokens.Len() != 1 {
		t.Errorf("accounts %d, refresh tokens %d", c.Accounts.Len(), c.RefreshTokens.Len())
	}
	p, err := azconfig.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Subscriptions) != len(tenant.Subscriptions) {
		t.Errorf("%d subscriptions", len(p.Subscriptions))
	}
}

// The real az, where installed: version and a typed error for a dir with
// no login.
func TestRealAZ(t *testing.T) {
	testbed.RequireAZ(t)
	if testing.Short() {
		t.Skip("slow")
	}
	r := azcli.New(azcli.Options{Env: append(os.Environ(), "AZURE_CORE_COLLECT_TELEMETRY=false")})
	// Check fails on an az older than MinVersion.
	if err := r.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err := r.Run(context.Background(), azcli.Call{Args: []string{"account", "get-access-token", "--output", "json"}, ConfigDir: dir, Token: true, Throwaway: true})
	if !azure.IsNeedsLogin(err) {
		t.Fatalf("fresh dir: %v", err)
	}
}

// ptyLoginDir, set in the environment, makes TestRealLoginOnTerminal the
// login itself, run by script(1) on a pseudo-terminal.
const ptyLoginDir = "AZKEEP_TEST_PTY_LOGIN_DIR"

// A device-code login on a terminal whose input is closed: az 2.61 and
// newer then show a subscription selector after the tokens were issued and
// fail with EOFError unless azkeep turns it off (core.login_experience_v2).
// script(1) from util-linux gives the login a pseudo-terminal.
func TestRealLoginOnTerminal(t *testing.T) {
	if dir := os.Getenv(ptyLoginDir); dir != "" {
		if !term.IsTerminal(int(os.Stdin.Fd())) || !term.IsTerminal(int(os.Stdout.Fd())) {
			t.Fatal("stdin and stdout are not a terminal")
		}
		r := azcli.New(azcli.Options{})
		if err := r.Login(context.Background(), azcli.LoginOptions{ConfigDir: dir, Tenant: os.Getenv("AZKEEP_TEST_TENANT"), DeviceCode: true, Throwaway: true}); err != nil {
			t.Fatalf("login on a terminal: %v", err)
		}
		return
	}
	testbed.RequireAZ(t)
	script, err := exec.LookPath("script")
	testbed.Require(t, err == nil, "script (util-linux)")
	emu := testbed.Emulator(t, entraemu.Config{})
	tenant := emu.Tenants()[0]
	dir := testbed.NewConfigDir(t)
	cmd := exec.Command(script, "-qfec", os.Args[0]+" -test.run=^TestRealLoginOnTerminal$ -test.v", "/dev/null")
	cmd.Env = append(testbed.AZEnv(emu, ""), ptyLoginDir+"="+dir, "AZKEEP_TEST_TENANT="+tenant.ID, "TERM=xterm")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("login on a terminal: %v\n%s", err, out)
	}
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Accounts.Len() != 1 {
		t.Errorf("%d accounts after the login\n%s", c.Accounts.Len(), out)
	}
}

// A 503 from the token endpoint reaches the user as one line naming the
// token endpoint, whatever the az version prints (az 2.74 prints a Python
// traceback).
func TestRealTokenEndpointFault(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{})
	tenant := emu.Tenants()[0]
	dir := testbed.NewConfigDir(t)
	testbed.LoginDeviceCode(t, emu, dir, tenant.ID)
	testbed.DeleteCacheSections(t, dir, "AccessToken")
	emu.AddFault(entraemu.Fault{GrantType: entraemu.GrantRefreshToken, Status: 503})
	r := azcli.New(azcli.Options{Env: testbed.AZEnv(emu, "")})
	_, err := r.Run(context.Background(), azcli.Call{Args: []string{"account", "get-access-token", "--output", "json"}, ConfigDir: dir, Token: true, Throwaway: true})
	if err == nil || !strings.Contains(err.Error(), "the token endpoint answered") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err %v", err)
	}
	t.Logf("on a 503: %v", err)
}
