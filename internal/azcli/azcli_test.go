package azcli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/hint"
)

// The test binary doubles as a fake az: with AZCLI_FAKE set it behaves as
// the mode says and exits.
func TestMain(m *testing.M) {
	if mode := os.Getenv("AZCLI_FAKE"); mode != "" {
		os.Exit(fakeAZ(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeAZ(mode string, args []string) int {
	isVersion := len(args) > 0 && args[0] == "version"
	switch mode {
	case "old":
		if isVersion {
			fmt.Println(`{"azure-cli": "2.29.0", "azure-cli-core": "2.29.0", "extensions": {}}`)
			return 0
		}
	case "garbage":
		fmt.Println("Traceback (most recent call last): \x00\xff garbage")
		return 0
	case "hang":
		time.Sleep(time.Hour)
	case "hang-after-version":
		if isVersion {
			fmt.Println(`{"azure-cli": "2.45.0"}`)
			return 0
		}
		time.Sleep(time.Hour)
	case "ok":
		if isVersion {
			fmt.Println(`{"azure-cli": "2.45.0"}`)
			return 0
		}
		// Echo what the tests check: the environment and arguments.
		fmt.Printf("dir=%s cache=%s telemetry=%s args=%s\n", os.Getenv("AZURE_CONFIG_DIR"),
			os.Getenv("AZURE_CORE_USE_MSAL_HTTP_CACHE"), os.Getenv("AZURE_CORE_COLLECT_TELEMETRY"), strings.Join(args, " "))
		return 0
	case "invalid-grant":
		if isVersion {
			fmt.Println(`{"azure-cli": "2.45.0"}`)
			return 0
		}
		// As az 2.45 does with its HTTP cache on: the failed request,
		// refresh token included, pickled into msal_http_cache.bin.
		if os.Getenv("AZURE_CORE_USE_MSAL_HTTP_CACHE") != "false" {
			os.WriteFile(filepath.Join(os.Getenv("AZURE_CONFIG_DIR"), "msal_http_cache.bin"), []byte("refresh_token=0.AAAAsecretsecretsecretsecret"), 0o600)
		}
		fmt.Fprintln(os.Stderr, `ERROR: AADSTS70008: The provided authorization code or refresh token has expired due to inactivity. Trace ID: 1
Correlation ID: 2
{"error": "invalid_grant", "refresh_token": "0.AAAAsecretsecretsecretsecret"}
To re-authenticate, please run:
az login --tenant t`)
		return 1
	case "replayed-grant":
		// MSAL replays a cached rejection while its HTTP cache holds one.
		if isVersion {
			fmt.Println(`{"azure-cli": "2.45.0"}`)
			return 0
		}
		if _, err := os.Stat(filepath.Join(os.Getenv("AZURE_CONFIG_DIR"), "msal_http_cache.bin")); err == nil {
			fmt.Fprintln(os.Stderr, "ERROR: AADSTS50173: The provided grant has expired due to it being revoked.\n{\"error\": \"invalid_grant\"}")
			return 1
		}
		fmt.Println(`{"accessToken": "x"}`)
		return 0
	case "no-token":
		if isVersion {
			fmt.Println(`{"azure-cli": "2.45.0"}`)
			return 0
		}
		fmt.Fprintln(os.Stderr, "ERROR: Can't find token from MSAL cache.\nTo re-authenticate, please run:\naz login")
		return 1
	case "fail":
		if isVersion {
			fmt.Println(`{"azure-cli": "2.45.0"}`)
			return 0
		}
		fmt.Fprintln(os.Stderr, "ERROR: boom, token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefgh leaked")
		return 3
	}
	return 0
}

func fake(t *testing.T, mode string, opts Options) *Runner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opts.Path = exe
	opts.Env = append(os.Environ(), "AZCLI_FAKE="+mode)
	return New(opts)
}

func TestNotInstalled(t *testing.T) {
	t.Setenv(EnvAZ, "")
	t.Setenv("PATH", t.TempDir())
	r := New(Options{})
	err := r.Check(context.Background())
	if !errors.Is(err, ErrNotInstalled) || hint.Of(err) != InstallHint {
		t.Fatalf("err %v, hint %q", err, hint.Of(err))
	}
	_, err = r.Run(context.Background(), Call{Args: []string{"account", "show"}, ConfigDir: t.TempDir()})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("run: %v", err)
	}
	t.Setenv(EnvAZ, filepath.Join(t.TempDir(), "nope"))
	if _, err := Find(); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), EnvAZ) {
		t.Fatalf("AZKEEP_AZ missing: %v", err)
	}
}

func TestFindPrefersAZKEEP_AZ(t *testing.T) {
	exe, _ := os.Executable()
	t.Setenv(EnvAZ, exe)
	if p, err := Find(); err != nil || p != exe {
		t.Fatalf("%q %v", p, err)
	}
}

func TestTooOld(t *testing.T) {
	r := fake(t, "old", Options{})
	v, err := r.Version(context.Background())
	var old *TooOldError
	if !errors.As(err, &old) || v != "2.29.0" || old.Version != "2.29.0" || old.Min != MinVersion {
		t.Fatalf("v %q err %v", v, err)
	}
	if !strings.Contains(hint.Of(err), "upgrade") {
		t.Errorf("hint %q", hint.Of(err))
	}
	if _, err := r.Run(context.Background(), Call{Args: []string{"account", "show"}, ConfigDir: t.TempDir()}); !errors.As(err, &old) {
		t.Errorf("run: %v", err)
	}
}

func TestGarbageVersion(t *testing.T) {
	r := fake(t, "garbage", Options{})
	_, err := r.Version(context.Background())
	var vu *VersionUnknownError
	if !errors.As(err, &vu) {
		t.Fatalf("err %v", err)
	}
}

func TestHangingAZTimesOut(t *testing.T) {
	for _, mode := range []string{"hang", "hang-after-version"} {
		r := fake(t, mode, Options{Timeout: 2 * time.Second})
		_, err := r.Run(context.Background(), Call{Args: []string{"account", "get-access-token", "--subscription", "x"}, ConfigDir: t.TempDir()})
		var to *TimeoutError
		if !errors.As(err, &to) {
			t.Fatalf("%s: err %v", mode, err)
		}
		if mode == "hang-after-version" && to.Command != "az account get-access-token" {
			t.Errorf("command %q", to.Command)
		}
	}
}

func TestCallerCancelIsNotATimeout(t *testing.T) {
	r := fake(t, "hang-after-version", Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := r.Run(ctx, Call{Args: []string{"account", "show"}, ConfigDir: t.TempDir()})
	if !errors.Is(err, context.Canceled) || IsTimeout(err) {
		t.Fatalf("err %v", err)
	}
}

func TestEnvironment(t *testing.T) {
	r := fake(t, "ok", Options{})
	t.Setenv("AZURE_CONFIG_DIR", "/wrong")
	dir := t.TempDir()
	res, err := r.Run(context.Background(), Call{Args: []string{"account", "get-access-token"}, ConfigDir: dir, Token: true})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("dir=%s cache=false telemetry= args=account get-access-token\n", dir)
	if string(res.Stdout) != want {
		t.Errorf("got %q want %q", res.Stdout, want)
	}
	res, err = r.Run(context.Background(), Call{Args: []string{"login"}, ConfigDir: dir, Throwaway: true, Env: []string{"AZURE_CORE_USE_MSAL_HTTP_CACHE=true"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("dir=%s cache=true telemetry=false args=login\n", dir); string(res.Stdout) != want {
		t.Errorf("got %q want %q", res.Stdout, want)
	}
}

func TestNeedsLogin(t *testing.T) {
	for mode, code := range map[string]string{"invalid-grant": "invalid_grant", "no-token": "login_required"} {
		r := fake(t, mode, Options{})
		_, err := r.Run(context.Background(), Call{Args: []string{"account", "get-access-token"}, ConfigDir: t.TempDir(), Token: true})
		var nl *azure.NeedsLoginError
		if !errors.As(err, &nl) || nl.Code != code {
			t.Fatalf("%s: %v", mode, err)
		}
		if mode == "invalid-grant" && !strings.HasPrefix(nl.Description, "AADSTS70008: The provided") {
			t.Errorf("description %q", nl.Description)
		}
		if strings.Contains(err.Error(), "secretsecret") {
			t.Errorf("secret in error: %v", err)
		}
	}
}

// TestFailedPrivateCallScrubsHTTPCache: a token call in a private dir runs
// with MSAL's HTTP cache on; after a failure the cache (which az fills with
// the failed request, refresh token included) is gone, and a rejection
// replayed from it is asked again. Elsewhere token calls keep it off.
func TestFailedPrivateCallScrubsHTTPCache(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "msal_http_cache.bin")
	_, err := fake(t, "invalid-grant", Options{}).RunPrivate(context.Background(), dir, "account", "get-access-token")
	if !azure.IsNeedsLogin(err) {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(cache); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("MSAL's HTTP cache left after a rejected grant: %v", err)
	}
	os.WriteFile(cache, []byte("a cached rejection"), 0o600)
	out, err := fake(t, "replayed-grant", Options{}).RunPrivate(context.Background(), dir, "account", "get-access-token")
	if err != nil || !strings.Contains(string(out), "accessToken") {
		t.Fatalf("replayed rejection not asked again: %v %q", err, out)
	}
	res, err := fake(t, "ok", Options{}).Run(context.Background(), Call{Args: []string{"account", "get-access-token"}, ConfigDir: dir, Token: true, Private: true})
	if err != nil || !strings.Contains(string(res.Stdout), "cache= ") {
		t.Fatalf("private token call: %v %q", err, res.Stdout)
	}
}

func TestOtherFailureRedacted(t *testing.T) {
	var logged []string
	r := fake(t, "fail", Options{Log: func(s string) { logged = append(logged, s) }})
	_, err := r.Run(context.Background(), Call{Args: []string{"account", "show", "--subscription", "s"}, ConfigDir: t.TempDir()})
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || ee.Command != "az account show" {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "eyJzdWIi") || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("not redacted: %v", err)
	}
	if len(logged) != 2 || !strings.Contains(logged[1], "az account show (AZURE_CONFIG_DIR=") || strings.Contains(logged[1], "--subscription") {
		t.Errorf("log %q", logged)
	}
}

func TestInteractiveCancel(t *testing.T) {
	r := fake(t, "hang-after-version", Options{Stdin: strings.NewReader(""), Stdout: new(strings.Builder), Stderr: new(strings.Builder)})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	err := r.RunInteractive(ctx, Call{Args: []string{"login", "--use-device-code"}, ConfigDir: t.TempDir()})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

func TestVersionParsing(t *testing.T) {
	for in, want := range map[string]string{
		`{"azure-cli": "2.45.0", "extensions": {}}`:        "2.45.0",
		"azure-cli                         2.61.0 *\ncore": "2.61.0",
		"2.29.0": "2.29.0",
	} {
		if v, err := parseVersion([]byte(in)); err != nil || v != want {
			t.Errorf("%q: %q %v", in, v, err)
		}
	}
	for _, in := range []string{"", "{}", `{"azure-cli": 2}`, "garbage"} {
		if _, err := parseVersion([]byte(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	if compareVersions("2.9.0", "2.30.0") >= 0 || compareVersions("2.30.0", "2.30") != 0 || compareVersions("2.45.0", MinVersion) <= 0 {
		t.Error("compareVersions")
	}
}

// Login passes the arguments and the streams through.
func TestLoginArgsAndStreams(t *testing.T) {
	r := fake(t, "ok", Options{})
	var out, errb strings.Builder
	dir := t.TempDir()
	err := r.Login(context.Background(), LoginOptions{ConfigDir: dir, Tenant: "contoso.example", DeviceCode: true, Throwaway: true,
		In: strings.NewReader(""), Out: &out, Err: &errb})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("dir=%s cache= telemetry=false args=login --tenant contoso.example --use-device-code --output none\n", dir)
	if out.String() != want {
		t.Errorf("got %q want %q", out.String(), want)
	}
}

// A passed check is remembered in StateDir; a changed az is checked again.
func TestVersionRemembered(t *testing.T) {
	state := t.TempDir()
	exe, _ := os.Executable()
	// A copy of the fake we can change.
	az := filepath.Join(t.TempDir(), "az")
	b, _ := os.ReadFile(exe)
	os.WriteFile(az, b, 0o755)
	var logged []string
	mk := func(mode string) *Runner {
		return New(Options{Path: az, Env: append(os.Environ(), "AZCLI_FAKE="+mode), StateDir: state,
			Log: func(s string) { logged = append(logged, s) }})
	}
	if v, err := mk("ok").Version(context.Background()); err != nil || v != "2.45.0" {
		t.Fatalf("%q %v", v, err)
	}
	if len(logged) != 1 {
		t.Fatalf("log %q", logged)
	}
	// Same install: no az run, even if it would now say 2.29.0.
	if v, err := mk("old").Version(context.Background()); err != nil || v != "2.45.0" || len(logged) != 1 {
		t.Fatalf("%q %v %q", v, err, logged)
	}
	// Upgraded (here: downgraded) install: checked again.
	later := time.Now().Add(time.Minute)
	os.Chtimes(az, later, later)
	var old *TooOldError
	if _, err := mk("old").Version(context.Background()); !errors.As(err, &old) || len(logged) != 2 {
		t.Fatalf("%v %q", err, logged)
	}
}

func TestTimeoutFromEnv(t *testing.T) {
	t.Setenv(EnvTimeout, "1500ms")
	if r := New(Options{}); r.opts.Timeout != 1500*time.Millisecond {
		t.Errorf("timeout %v", r.opts.Timeout)
	}
	t.Setenv(EnvTimeout, "soon")
	r := fake(t, "ok", Options{})
	if _, err := r.Run(context.Background(), Call{Args: []string{"x"}, ConfigDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), EnvTimeout) || hint.Of(err) == "" {
		t.Errorf("bad value: %v", err)
	}
}

// Regression: every az child received AZKEEP_VAULT_PASSPHRASE, the key of
// the file vault.
func TestEnvironmentWithoutVaultKey(t *testing.T) {
	env := Call{ConfigDir: "/d"}.env([]string{"A=1", "AZKEEP_VAULT_PASSPHRASE=secret", "AZKEEP_HOME=/h"}, true)
	if got, want := strings.Join(env, " "), "A=1 AZKEEP_HOME=/h AZURE_CONFIG_DIR=/d"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// A 5xx from the token endpoint is one line naming it, with either az:
// 2.45 names the status; 2.74's MSAL crashes while building the error and
// prints a traceback (testdata, as az 2.74 printed it against the
// emulator's injected 503).
func TestTokenEndpointServerError(t *testing.T) {
	for file, want := range map[string]string{
		"token-503-az245.stderr": "the token endpoint answered HTTP 503",
		"token-503-az274.stderr": "the token endpoint answered with a server error (HTTP 5xx; this az does not say which)",
	} {
		stderr, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		err = withHint(classify("az account get-access-token", 1, string(stderr)))
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Stderr != want {
			t.Errorf("%s: %v", file, err)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "Traceback") {
			t.Errorf("%s: not one line: %q", file, msg)
		}
		if hint.Of(err) == "" {
			t.Errorf("%s: no hint", file)
		}
	}
}

// Regression: az's Python traceback was pasted whole into azkeep's error.
// The error is one line, what failed, and a hint names the likely cause.
func TestTracebackIsSummarised(t *testing.T) {
	stderr := `Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/urllib3/connection.py", line 174, in _new_conn
    conn = connection.create_connection(
  File "/usr/lib/python3/dist-packages/urllib3/util/connection.py", line 95, in create_connection
    raise err
ConnectionRefusedError: [Errno 111] Connection refused
`
	err := withHint(classify("az account get-access-token", 1, stderr))
	msg := err.Error()
	if strings.Contains(msg, "\n") || strings.Contains(msg, "Traceback") || strings.Contains(msg, "File ") {
		t.Errorf("error is not one line: %q", msg)
	}
	if !strings.Contains(msg, "az account get-access-token failed") || !strings.Contains(msg, "ConnectionRefusedError: [Errno 111] Connection refused") {
		t.Errorf("error does not say what failed: %q", msg)
	}
	if h := hint.Of(err); !strings.Contains(h, "network") || !strings.Contains(h, "proxy") {
		t.Errorf("hint %q does not point at the network or proxy", h)
	}
	for stderr, want := range map[string]string{
		"ERROR: [Errno 28] No space left on device: '/x/msal_token_cache.json'": "free",
		"ERROR: [Errno 13] Permission denied: '/x/azureProfile.json'":           "permission",
		"ERROR: [Errno 30] Read-only file system: '/x/azureProfile.json'":       "read-only",
	} {
		if h := hint.Of(withHint(classify("az account list", 1, stderr))); !strings.Contains(h, want) {
			t.Errorf("hint for %q = %q, want one about %q", stderr, h, want)
		}
	}
}

// In the dirs azkeep made for itself (login, staging) the dir's own config
// decides the token-cache encryption (PrepareDir turned it off): the
// user's AZURE_CORE_ENCRYPT_TOKEN_CACHE=true would send az to the one
// keyring item the user's own dir reads.
func TestEnvironmentLeavesEncryptionToPrivateDirs(t *testing.T) {
	base := []string{"AZURE_CORE_ENCRYPT_TOKEN_CACHE=true"}
	for _, c := range []Call{{ConfigDir: "/d", Throwaway: true}, {ConfigDir: "/d", Token: true, Private: true}} {
		if got := strings.Join(c.env(base, true), " "); strings.Contains(got, "ENCRYPT") {
			t.Errorf("%+v: %s", c, got)
		}
	}
	if got := strings.Join(Call{ConfigDir: "/d"}.env(base, true), " "); !strings.Contains(got, "AZURE_CORE_ENCRYPT_TOKEN_CACHE=true") {
		t.Errorf("the user's dir: %s", got)
	}
}
