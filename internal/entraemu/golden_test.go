package entraemu_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// TestWriteGoldenFixtures regenerates testdata/az245 with the real az:
//
//	ENTRAEMU_GOLDEN=1 go test -run TestWriteGoldenFixtures ./internal/entraemu
//
// The emulator runs with a fixed Seed, so tenant, user and subscription ids
// are the same every time; tokens are sanitised (see sanitise).
func TestWriteGoldenFixtures(t *testing.T) {
	if os.Getenv("ENTRAEMU_GOLDEN") == "" {
		t.Skip("set ENTRAEMU_GOLDEN=1 to regenerate testdata/az245")
	}
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{Seed: 245, SubscriptionsPerTenant: 2, TokenLifetime: time.Hour})
	ten := emu.Tenants()[0]
	out := filepath.Join("..", "..", "testdata", "az245")
	dir := testbed.NewConfigDir(t)
	snap := func(name string, files ...string) {
		t.Helper()
		d := filepath.Join(out, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, f), sanitise(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := []string{"msal_token_cache.json", "azureProfile.json", "config", "clouds.config"}

	testbed.MustAZ(t, emu, dir, "login", "--use-device-code", "--tenant", ten.ID, "--output", "none")
	snap("device-code-login", all...)
	testbed.MustAZ(t, emu, dir, "account", "set", "--subscription", ten.Subscriptions[1].ID)
	snap("account-set", "azureProfile.json", "clouds.config")
	testbed.MustAZ(t, emu, dir, "account", "get-access-token", "--resource", "https://vault.azure.net", "--output", "none")
	snap("vault-token", "msal_token_cache.json")
	testbed.MustAZ(t, emu, dir, "configure", "--defaults", "location=westeurope")
	snap("configure-defaults", "config")
	testbed.MustAZ(t, emu, dir, "logout")
	snap("logout", "msal_token_cache.json", "azureProfile.json")

	dir = testbed.NewConfigDir(t)
	sp := ten.ServicePrincipals[0]
	testbed.MustAZ(t, emu, dir, "login", "--service-principal", "-u", sp.AppID, "-p", sp.Secret, "--tenant", ten.ID, "--output", "none")
	snap("service-principal", "msal_token_cache.json", "azureProfile.json", "service_principal_entries.json")

	// With telemetry on, azureProfile.json also holds installationId. The
	// telemetry uploader az starts is refused by the emulator.
	dir = testbed.NewConfigDir(t)
	r := testbed.AZWithEnv(context.Background(), emu, dir, []string{"AZURE_CORE_COLLECT_TELEMETRY=true"},
		"login", "--use-device-code", "--tenant", ten.ID, "--output", "none")
	if !r.OK() {
		t.Fatal(r)
	}
	snap("telemetry-on", "azureProfile.json")
}

// sanitise replaces tokens in place, keeping every other byte as az wrote
// it: a JWT keeps its claims but gets an "alg":"none" header and no
// signature; a refresh token becomes a fixed fake of the emulator's shape.
func sanitise(data []byte) []byte {
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"none"}`))
	data = entraemu.JWTPattern().ReplaceAllFunc(data, func(tok []byte) []byte {
		parts := strings.Split(string(tok), ".")
		return []byte(none + "." + parts[1] + ".")
	})
	n := 0
	data = entraemu.RefreshTokenPattern().ReplaceAllFunc(data, func([]byte) []byte {
		n++
		return []byte(entraemu.RefreshTokenPrefix + "fixture-refresh-token-not-a-secret-" + string(rune('0'+n%10)) + strings.Repeat("x", 20))
	})
	return bytes.Clone(data)
}
