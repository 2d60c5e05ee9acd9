package azconfig

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// With encryption on, the cache goes into the Secret Service item az reads
// (found by its attributes, the schema among them, as libsecret searches),
// the empty signal file is written next to it, and the plain JSON file is
// not. Only inside scripts/test.sh's private keyring: never the
// developer's own.
func TestLibsecretStoreWritesAzsItem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("libsecret is az's encrypted store on Linux")
	}
	if os.Getenv("AZKEEP_TEST_INNER") != "1" || os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		// testbed.Require would import azconfig back through azcli.
		if ci := strings.ToLower(os.Getenv("CI")); ci == "true" || ci == "1" || ci == "yes" {
			t.Fatal("the private Secret Service of scripts/test.sh is required in CI")
		}
		t.Skip("the private Secret Service of scripts/test.sh is not available")
	}
	dir := t.TempDir()
	t.Setenv(EncryptEnv, "true")
	if where, err := CheckTokenCache(dir); err != nil || !strings.Contains(where, TokenCacheBin) {
		t.Fatalf("CheckTokenCache = %q, %v", where, err)
	}
	at := &AccessToken{HomeAccountID: tHome, Environment: tEnv, CredentialType: "AccessToken", ClientID: tClient,
		Secret: "at-secret", Realm: tTenant, Target: "https://management.core.windows.net//user_impersonation https://management.core.windows.net//.default",
		CachedAt: "1700000000", ExpiresOn: "4102444800"}
	if err := UpdateTokenCache(context.Background(), dir, func(c *TokenCache) error { c.AccessTokens.Put(at.Key(), at); return nil }); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, TokenCacheBin))
	if err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signal file: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, TokenCacheJSON)); err == nil {
		t.Error("msal_token_cache.json written too")
	}
	c, err := LoadTokenCache(dir)
	if err != nil || c.AccessTokens.Len() != 1 || c.RefreshTokens.Len() != 0 {
		t.Fatalf("read back: %v, %v", c, err)
	}
	// libsecret's own client finds it by az's attributes.
	if st, err := exec.LookPath("secret-tool"); err == nil {
		out, err := exec.Command(st, "lookup", "xdg:schema", "my_schema_name", "my_attr1", "foo", "my_attr2", "bar").Output()
		if err != nil || !strings.Contains(string(out), `"AccessToken"`) || !strings.Contains(string(out), "at-secret") {
			t.Errorf("secret-tool lookup: %v (%d bytes)", err, len(out))
		}
	}
}
