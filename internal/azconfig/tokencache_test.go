package azconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/hint"
)

// Values of testdata/gen_msal.py.
const (
	tClient = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
	tTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tUID    = "6a4c9f1e-0d2b-4c3a-9e8f-1b2c3d4e5f60"
	tHome   = tUID + "." + tTenant
	tEnv    = "login.microsoftonline.com"
	tScope  = "https://management.core.windows.net//user_impersonation https://management.core.windows.net//.default"
	tNow1   = 1764390000
	tNow2   = tNow1 + 3000
)

func golden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenCaches returns every token cache file written by MSAL Python or
// the real az: ours, and the EMU helper's testdata/az245 when present.
func goldenFiles(t testing.TB, suffix string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, pat := range []string{"testdata/*" + suffix, "../../testdata/az245/*" + suffix, "../../testdata/az245/*/*" + suffix} {
		m, _ := filepath.Glob(pat)
		for _, p := range m {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = b
		}
	}
	return out
}

func idTokenFromGolden(t *testing.T, name string) string {
	c, err := ParseTokenCache(golden(t, name))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range c.IDTokens.All() {
		return it.Secret
	}
	t.Fatal("no id token")
	return ""
}

func clientInfo() string {
	return "eyJ1aWQiOiAiNmE0YzlmMWUtMGQyYi00YzNhLTllOGYtMWIyYzNkNGU1ZjYwIiwgInV0aWQiOiAiNzJmOTg4YmYtODZmMS00MWFmLTkxYWItMmQ3Y2QwMTFkYjQ3In0"
}

func TestGoldenRoundTripIsByteExact(t *testing.T) {
	files := goldenFiles(t, "msal_token_cache.json")
	if len(files) < 3 {
		t.Fatalf("only %d golden caches", len(files))
	}
	for name, b := range files {
		c, err := ParseTokenCache(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(out, b) {
			t.Errorf("%s: round trip differs:\n%s\n---\n%s", name, out, b)
		}
	}
}

func TestAddWritesWhatMSALPythonWrites(t *testing.T) {
	c := &TokenCache{}
	e, err := c.Add(TokenEvent{
		ClientID: tClient, Environment: tEnv, Realm: tTenant,
		Response: TokenResponse{
			TokenType: "Bearer", Scope: tScope, ExpiresIn: 4577, ExtExpiresIn: 4577,
			AccessToken: "at-1.fake", RefreshToken: "rt-1.fake", IDToken: idTokenFromGolden(t, "login.msal_token_cache.json"),
			ClientInfo: clientInfo(), Foci: "1",
		},
		Now: time.Unix(tNow1, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.HomeAccountID != tHome {
		t.Errorf("home account id %q", e.HomeAccountID)
	}
	got, _ := c.Marshal()
	if want := golden(t, "login.msal_token_cache.json"); !bytes.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestAddRefreshAnswerWritesWhatAcquireTokenSilentWrites(t *testing.T) {
	c, err := ParseTokenCache(golden(t, "login.msal_token_cache.json"))
	if err != nil {
		t.Fatal(err)
	}
	rt, ok := c.RefreshToken(tHome, tEnv, tClient)
	if !ok {
		t.Fatal("no refresh token")
	}
	var resp TokenResponse
	// expires_in as a string, as the v1 endpoint sends it.
	body := fmt.Sprintf(`{"token_type":"Bearer","scope":%q,"expires_in":"3599","ext_expires_in":3599,
		"access_token":"at-2.fake","refresh_token":"rt-2.fake","id_token":%q,"client_info":%q,"foci":"1"}`,
		tScope, idTokenFromGolden(t, "refresh.msal_token_cache.json"), clientInfo())
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddRefreshAnswer(rt.Key(), TokenEvent{
		ClientID: tClient, Environment: tEnv, Realm: tTenant, Response: resp, Now: time.Unix(tNow2, 0),
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Marshal()
	if want := golden(t, "refresh.msal_token_cache.json"); !bytes.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	at, ok := c.AccessTokenFor(tHome, tTenant, "https://management.core.windows.net//.default")
	if !ok {
		t.Fatal("no ARM access token")
	}
	if exp, _ := at.ExpiresAt(); exp.Unix() != tNow2+3599 {
		t.Errorf("expires %v", exp)
	}
}

func TestRemoveAccountIsWhatAzLogoutLeaves(t *testing.T) {
	for _, rm := range []func(*TokenCache) int{
		func(c *TokenCache) int { return c.RemoveAccount(tHome, "") },
		func(c *TokenCache) int { return c.RemoveAll() },
	} {
		c, err := ParseTokenCache(golden(t, "refresh.msal_token_cache.json"))
		if err != nil {
			t.Fatal(err)
		}
		if n := rm(c); n != 4 {
			t.Errorf("removed %d entries, want 4", n)
		}
		got, _ := c.Marshal()
		if want := golden(t, "logout.msal_token_cache.json"); !bytes.Equal(got, want) {
			t.Errorf("got\n%s\nwant\n%s", got, want)
		}
	}
}

func TestKeysAreBuiltAsMSALPythonBuildsThem(t *testing.T) {
	c, err := ParseTokenCache(golden(t, "refresh.msal_token_cache.json"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(key, built string) {
		if key != built {
			t.Errorf("key %q, built %q", key, built)
		}
	}
	for k, e := range c.AccessTokens.All() {
		check(k, e.Key())
	}
	for k, e := range c.RefreshTokens.All() {
		check(k, e.Key())
	}
	for k, e := range c.IDTokens.All() {
		check(k, e.Key())
	}
	for k, e := range c.Accounts.All() {
		check(k, e.Key())
	}
	for k, e := range c.AppMetadata.All() {
		check(k, e.Key())
	}
	// Lower-cased as a whole.
	if k := AccountKey("ABC.DEF", "Login.Example", "Tenant"); k != "abc.def-login.example-tenant" {
		t.Errorf("account key %q", k)
	}
}

func TestParseIsTolerant(t *testing.T) {
	for name, in := range map[string]string{
		"empty":         "",
		"white space":   " \n",
		"empty object":  "{}",
		"bom":           "\ufeff{}",
		"null section":  `{"AccessToken": null}`,
		"other section": `{"Future": {"x": {"a": 1}}, "Account": {}}`,
	} {
		if _, err := ParseTokenCache([]byte(in)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, in := range map[string]string{
		"array":        `[]`,
		"garbage":      `{"AccessToken": {`,
		"entry string": `{"AccessToken": {"k": "v"}}`,
		"section list": `{"AccessToken": []}`,
		"trailing":     `{} {}`,
		"bad utf8":     "{\"a\": \"\xff\"}",
	} {
		if _, err := ParseTokenCache([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestUnknownAndOddFieldsSurvive(t *testing.T) {
	in := `{
    "Future": {
        "x": [
            1.50,
            true,
            null,
            "\u00e9\ud83d\ude00<&>"
        ]
    },
    "AccessToken": {
        "k": {
            "credential_type": "AccessToken",
            "realm": null,
            "secret": "s",
            "x_extra": {
                "n": 1e3
            }
        }
    }
}`
	c, err := ParseTokenCache([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := c.Marshal()
	if string(out) != in {
		t.Errorf("got\n%s", out)
	}
	at, _ := c.AccessTokens.Get("k")
	if raw, ok := at.Extra.Get("x_extra"); !ok || string(raw) != `{"n":1e3}` {
		t.Errorf("extra %s", raw)
	}
	// Setting a known field that was null replaces it in place.
	at.Realm = "t"
	out, _ = c.Marshal()
	if !strings.Contains(string(out), `"realm": "t",`) {
		t.Errorf("got\n%s", out)
	}
}

func TestPutRefreshTokenKeepsOnePerAccount(t *testing.T) {
	c, _ := ParseTokenCache(golden(t, "refresh.msal_token_cache.json"))
	c.PutRefreshToken(&RefreshToken{CredentialType: CredRefreshToken, Secret: "rt-3", HomeAccountID: tHome,
		Environment: tEnv, ClientID: tClient, Target: "other", LastModificationTime: "1"})
	if c.RefreshTokens.Len() != 1 {
		t.Fatalf("%d refresh tokens", c.RefreshTokens.Len())
	}
	rt, _ := c.RefreshToken(tHome, "", tClient)
	if rt.Secret != "rt-3" {
		t.Errorf("secret %q", rt.Secret)
	}
	if n := c.RemoveRefreshTokens(tHome); n != 1 || c.RefreshTokens.Len() != 0 {
		t.Errorf("removed %d", n)
	}
	if n := c.RemoveAccessTokens(""); n != 1 {
		t.Errorf("removed %d access tokens", n)
	}
	if a, ok := c.FindAccount(tHome, strings.ToUpper(tTenant)); !ok || a.Username != "jürgen@contoso.example" {
		t.Errorf("account %+v", a)
	}
}

func writeCache(t *testing.T, dir string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, TokenCacheJSON)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUpdateWithoutChangeLeavesFileAlone(t *testing.T) {
	dir := t.TempDir()
	// A cache in a shape az does not write (compact): untouched unless changed.
	in := []byte(`{"AccessToken":{}}`)
	p := writeCache(t, dir, in)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	if err := UpdateTokenCache(context.Background(), dir, func(c *TokenCache) error { return nil }); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if b, _ := os.ReadFile(p); !bytes.Equal(b, in) || !st.ModTime().Equal(old) {
		t.Errorf("file rewritten: %s", b)
	}
	if _, err := os.Stat(p + LockSuffix); !os.IsNotExist(err) {
		t.Errorf("lock file left behind: %v", err)
	}
	// Missing file, no change: nothing created.
	dir2 := t.TempDir()
	if err := UpdateTokenCache(context.Background(), dir2, func(c *TokenCache) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, TokenCacheJSON)); !os.IsNotExist(err) {
		t.Errorf("cache created: %v", err)
	}
}

func TestUpdateWritesLikeAz(t *testing.T) {
	dir := t.TempDir()
	err := UpdateTokenCache(context.Background(), dir, func(c *TokenCache) error {
		_, err := c.Add(TokenEvent{
			ClientID: tClient, Environment: tEnv, Realm: tTenant,
			Response: TokenResponse{TokenType: "Bearer", Scope: tScope, ExpiresIn: 4577, ExtExpiresIn: 4577,
				AccessToken: "at-1.fake", RefreshToken: "rt-1.fake", IDToken: idTokenFromGolden(t, "login.msal_token_cache.json"),
				ClientInfo: clientInfo(), Foci: "1"},
			Now: time.Unix(tNow1, 0),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, TokenCacheJSON)
	b, _ := os.ReadFile(p)
	if !bytes.Equal(b, golden(t, "login.msal_token_cache.json")) {
		t.Errorf("written\n%s", b)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
}

func TestUpdateRefusesMalformedCache(t *testing.T) {
	dir := t.TempDir()
	in := []byte(`{"AccessToken": {"k": 1}}`)
	p := writeCache(t, dir, in)
	called := false
	err := UpdateTokenCache(context.Background(), dir, func(c *TokenCache) error { called = true; return nil })
	if err == nil || called {
		t.Fatalf("err %v, called %v", err, called)
	}
	if !strings.Contains(err.Error(), TokenCacheJSON) {
		t.Errorf("error does not name the file: %v", err)
	}
	var me *MalformedError
	if !errors.As(err, &me) || !strings.Contains(hint.Of(err), "repair or remove") {
		t.Errorf("not a MalformedError with a hint: %v / %q", err, hint.Of(err))
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, in) {
		t.Errorf("file rewritten: %s", b)
	}
}

func TestUpdateErrorFromFnWritesNothing(t *testing.T) {
	dir := t.TempDir()
	p := writeCache(t, dir, golden(t, "login.msal_token_cache.json"))
	err := UpdateTokenCache(context.Background(), dir, func(c *TokenCache) error {
		c.RemoveAll()
		return fmt.Errorf("boom")
	})
	if err == nil {
		t.Fatal("no error")
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, golden(t, "login.msal_token_cache.json")) {
		t.Error("file changed")
	}
}

func TestConcurrentUpdatesAreSerialised(t *testing.T) {
	dir := t.TempDir()
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := UpdateTokenCache(context.Background(), dir, func(c *TokenCache) error {
				a := &Account{HomeAccountID: fmt.Sprintf("u%d.t", i), Environment: tEnv, Realm: "t", AuthorityType: AuthorityMSSTS}
				c.PutAccount(a)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	c, err := LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Accounts.Len() != n {
		t.Errorf("%d accounts, want %d (a lost update)", c.Accounts.Len(), n)
	}
}

func TestLockWaitsForHolderAndHonoursContext(t *testing.T) {
	dir := t.TempDir()
	lp := filepath.Join(dir, TokenCacheJSON+LockSuffix)
	unlock, err := LockCache(context.Background(), lp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := LockCache(ctx, lp); err == nil {
		t.Fatal("second lock acquired while held")
	}
	unlock()
	u2, err := LockCache(context.Background(), lp)
	if err != nil {
		t.Fatal(err)
	}
	u2()
	// A stale lock file (a crashed az) does not block.
	os.WriteFile(lp, []byte("123 az"), 0o600)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	u3, err := LockCache(ctx2, lp)
	if err != nil {
		t.Fatal(err)
	}
	u3()
}

func TestTokenCachePathFollowsEncryptSetting(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AZURE_CORE_ENCRYPT_TOKEN_CACHE", "false")
	p, enc, err := TokenCachePath(dir)
	if err != nil || enc || filepath.Base(p) != TokenCacheJSON {
		t.Errorf("%s %v %v", p, enc, err)
	}
}

// TestCachePersistence: which store az reads for a dir, by OS, the dir's
// core.encrypt_token_cache and AZURE_CORE_ENCRYPT_TOKEN_CACHE (which wins).
func TestCachePersistence(t *testing.T) {
	for _, tc := range []struct {
		goos, config, env string
		want              Persistence
	}{
		{"linux", "", "", PlainJSON},
		{"darwin", "", "", PlainJSON},
		{"windows", "", "", DPAPI},
		{"linux", "true", "", Libsecret},
		{"linux", "yes", "", Libsecret},
		{"darwin", "on", "", Keychain},
		{"windows", "false", "", PlainJSON},
		{"linux", "", "true", Libsecret},
		{"linux", "true", "false", PlainJSON},
		{"linux", "false", "1", Libsecret},
		{"windows", "", "0", PlainJSON},
		{"linux", "garbage", "", PlainJSON},
	} {
		t.Run(tc.goos+"/config="+tc.config+"/env="+tc.env, func(t *testing.T) {
			dir := t.TempDir()
			if tc.config != "" {
				ini := "[core]\nencrypt_token_cache = " + tc.config + "\n"
				if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(ini), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := func(k string) (string, bool) {
				if k == EncryptEnv && tc.env != "" {
					return tc.env, true
				}
				return "", false
			}
			got, err := cachePersistence(dir, tc.goos, env)
			if err != nil || got != tc.want {
				t.Errorf("= %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// An encrypted store azkeep cannot write is an error naming the dir, with
// the fix, never a write of msal_token_cache.json where az does not read.
func TestCheckTokenCacheRefusesAStoreItCannotWrite(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("encryption on Windows is the DPAPI file")
	}
	if os.Getenv("AZKEEP_TEST_INNER") == "1" {
		t.Skip("scripts/test.sh's Secret Service answers (and godbus shares one connection per process)")
	}
	dir := t.TempDir()
	t.Setenv(EncryptEnv, "true")
	// A bus that does not answer: never the user's keyring.
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(dir, "no-bus"))
	_, err := CheckTokenCache(dir)
	var ee *EncryptedCacheError
	if !errors.As(err, &ee) || ee.Dir != dir || !errors.Is(err, ErrEncryptedCacheUnsupported) {
		t.Fatalf("err = %v", err)
	}
	if h := hint.Of(err); !strings.Contains(h, EncryptEnv) {
		t.Errorf("hint = %q", h)
	}
	if err := UpdateTokenCache(context.Background(), dir, func(*TokenCache) error { return nil }); !errors.Is(err, ErrEncryptedCacheUnsupported) {
		t.Errorf("UpdateTokenCache: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, TokenCacheJSON)); err == nil {
		t.Error("msal_token_cache.json was written")
	}
}
