//go:build unix

package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/leapp/leapptest"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// refreshSecret is the one refresh token of an MSAL token cache.
func refreshSecret(t *testing.T, cache []byte) string {
	t.Helper()
	c, err := azconfig.ParseTokenCache(cache)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, rt := range c.RefreshTokens.All() {
		secrets = append(secrets, rt.Secret)
	}
	if len(secrets) != 1 {
		t.Fatalf("%d refresh tokens in the cache, want 1", len(secrets))
	}
	return secrets[0]
}

// TestImportLeappLoggedIn proves "logged in without a new login" by
// redeeming what an import moved. Real logins (native, against the
// emulator) into two tenants go through leapp-core into Leapp's keychain
// items; `import leapp` moves them into a fresh home's vault (the account
// item without the AppMetadata entry Leapp does not keep); `session start`
// redeems them, one tenant with each engine. The emulator's refresh tokens
// are single-use, so the native engine's second start works only if the
// vault kept the rotated one (the az engine, slow, starts once: the token
// it redeems is Leapp's, the one in question). The target dir holds no refresh token, and the real az
// serves a token from its cache without asking for one.
func TestImportLeappLoggedIn(t *testing.T) {
	ctx := context.Background()
	engines := []string{"native", "az"}
	starts := map[string]int{"native": 2, "az": 1}
	emu := testbed.Emulator(t, entraemu.Config{Tenants: len(engines), SubscriptionsPerTenant: 2, StrictRefresh: true})
	spec := leapptest.Spec{MachineID: leapptest.MachineID}
	leappRTs := map[string]string{}
	for i, tn := range emu.Tenants() {
		dir := filepath.Join(t.TempDir(), "azure")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := native.Login(ctx, native.LoginOptions{ConfigDir: dir, Tenant: tn.ID, Client: emu.Client(), MaxInterval: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		cache, err := os.ReadFile(filepath.Join(dir, azconfig.TokenCacheJSON))
		if err != nil {
			t.Fatal(err)
		}
		leappRTs[tn.ID] = refreshSecret(t, cache)
		spec.Integrations = append(spec.Integrations, leapptest.Integration{Alias: "Emulated " + engines[i], TenantID: tn.ID, AZLoginDir: dir})
	}
	g := leapptest.Generate(t, spec, leapptest.Options{})

	h := newImportHome(t)
	h.cfg = testbed.NewConfigDir(t)
	// Each command runs as another azkeep process would: its own factory
	// on the same home and vault, its engine on the emulator.
	factory := func(eng string, streams IO) *Factory {
		f := NewFactory(streams)
		f.Globals = &Globals{Home: h.home, ConfigDir: h.cfg, Engine: eng}
		f.Vault = func() (vault.Store, error) { return h.mem, nil }
		f.HTTPClient = emu.Client
		f.AZ = func() *azcli.Runner {
			return azcli.New(azcli.Options{StateDir: h.home, Env: testbed.AZEnv(emu, h.cfg)})
		}
		return f
	}
	h.f = factory("native", IO{In: strings.NewReader(""), Out: &h.out, Err: &h.err})
	if err := h.importLeapp(t, g.Dir, mapKeychain(g.Items), nil); err != nil {
		t.Fatal(err)
	}
	st := h.state(t)
	if len(st.Integrations) != len(engines) || len(st.Sessions) != 2*len(engines) {
		t.Fatalf("import:\n%s%s", h.out.String(), h.err.String())
	}
	acct, err := h.mem.Get(ctx, lifecycle.VaultKey(st.Integrations[0].ID, "account"))
	if c, perr := azconfig.ParseTokenCache(acct); err != nil || perr != nil || c.Accounts.Len() != 1 || c.AppMetadata.Len() != 0 {
		t.Fatalf("the imported account item is not Leapp's account alone (%v, %v)", err, perr)
	}
	_, azErr := azcli.Find()
	for i, eng := range engines {
		tn, in := emu.Tenants()[i], st.Integrations[i]
		if in.Status != workspace.Online || in.TenantID != tn.ID {
			t.Fatalf("integration %+v", in)
		}
		if eng == "az" && azErr != nil {
			testbed.RequireAZ(t)
		}
		sub := tn.Subscriptions[1].ID
		emu.ResetRequests()
		for n := 1; n <= starts[eng]; n++ {
			var errb bytes.Buffer
			if code := Run(factory(eng, IO{In: strings.NewReader(""), Out: io.Discard, Err: &errb}), []string{"session", "start", sub}); code != 0 {
				t.Fatalf("%s engine: session start %d: exit %d: %s", eng, n, code, errb.String())
			}
			rt, err := h.mem.Get(ctx, lifecycle.VaultKey(in.ID, "refresh-token"))
			if err != nil || refreshSecret(t, rt) == leappRTs[tn.ID] {
				t.Fatalf("%s engine: after start %d the vault holds Leapp's refresh token (or none: %v)", eng, n, err)
			}
			if found := testbed.RefreshTokens(testbed.ScanSecrets(h.cfg)); len(found) != 0 {
				t.Fatalf("%s engine: refresh tokens in the target dir after start %d: %v", eng, n, found)
			}
		}
		if got := len(emu.TokenRequests("refresh_token")); got < starts[eng] {
			t.Errorf("%s engine: %d refresh grants for %d starts", eng, got, starts[eng])
		}
		// The AppMetadata entry az writes is back in the target dir: each
		// engine writes the one of the token endpoint's answer.
		if c, err := azconfig.LoadTokenCache(h.cfg); err != nil || c.AppMetadata.Len() != 1 {
			t.Errorf("%s engine: the target's token cache has no AppMetadata entry (%v)", eng, err)
		}
		prof, err := azconfig.LoadProfile(h.cfg)
		if err != nil || len(prof.Subscriptions) != 1 || prof.Subscriptions[0].ID != sub || !prof.Subscriptions[0].IsDefault {
			t.Errorf("%s engine: the target's profile: %+v (%v)", eng, prof, err)
		}

		if azErr != nil {
			t.Log("the real az is not installed: its reading of the session is not checked")
			continue
		}
		emu.ResetRequests()
		r := testbed.MustAZ(t, emu, h.cfg, "account", "get-access-token", "--output", "json")
		checkAZToken(t, r, "https://management.core.windows.net/", tn.ID)
		if got := emu.TokenRequests(""); len(got) != 0 {
			t.Errorf("%s engine: az asked for %d tokens, want none: %v", eng, len(got), got)
		}
	}
}
