// Package testbed runs the real Azure CLI against the entraemu emulator for
// end-to-end tests: a throwaway AZURE_CONFIG_DIR with telemetry and version
// checks off, a runner that returns stdout, stderr and exit code, and a
// scanner that finds every refresh and access token left in a directory.
//
// Real-component rule: when az is missing a test skips locally and fails
// when CI=true (RequireAZ).
package testbed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/entraemu"
)

// InCI reports whether the tests run in CI (CI=true or CI=1), where a
// missing real component fails the run instead of skipping.
func InCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1" || v == "yes"
}

// RequireAZ returns the path of the real az. Without one it skips the test
// locally and fails it when CI=true.
func RequireAZ(t testing.TB) string {
	t.Helper()
	p, err := azcli.Find()
	if err != nil {
		if InCI() {
			t.Fatalf("the real Azure CLI is required in CI: %v", err)
		}
		t.Skipf("the real Azure CLI is not installed (%v); install azure-cli or set AZKEEP_AZ", err)
	}
	return p
}

// Require skips (locally) or fails (CI=true) the test when cond is false.
func Require(t testing.TB, cond bool, what string) {
	t.Helper()
	if cond {
		return
	}
	if InCI() {
		t.Fatalf("%s is required in CI", what)
	}
	t.Skipf("%s is not available", what)
}

// Emulator starts an emulator for the test and closes it at cleanup. Its
// refusals are logged with t.Logf.
func Emulator(t testing.TB, cfg entraemu.Config) *entraemu.Emulator {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = func(format string, args ...any) {
			if strings.Contains(format, "refused") {
				t.Logf(format, args...)
			}
		}
	}
	emu, err := entraemu.Start(cfg)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { emu.Close() })
	return emu
}

// NewConfigDir makes a throwaway AZURE_CONFIG_DIR (0700, removed after the
// test) with telemetry off and the version check pre-filled, so az makes no
// request the emulator does not serve.
func NewConfigDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "azure")
	if err := PrepareConfigDir(dir); err != nil {
		t.Fatal(err)
	}
	if idx, versions := template(); idx != nil {
		_ = writeIfMissing(filepath.Join(dir, "commandIndex.json"), idx)
		if versions != nil {
			// az checks for new versions (a HEAD to azure.microsoft.com, then
			// GitHub) on the first command of a dir whose versionCheck.json
			// has no versions: give it the local ones, fresh.
			now := time.Now().Format("2006-01-02 15:04:05.000000")
			vc, _ := json.Marshal(map[string]any{"versions": versions, "update_time": now, "check_time": now})
			_ = os.WriteFile(filepath.Join(dir, "versionCheck.json"), vc, 0o600)
		}
	}
	return dir
}

// The first az command in a new config dir spends about a second building
// commandIndex.json (1.4 s against 0.3 s here); it depends only on az's
// version, so the test bed builds it once per process and copies it.
var index struct {
	once     sync.Once
	data     []byte
	versions json.RawMessage
}

// template runs az once in a scratch dir and keeps what it wrote that does
// not depend on the dir: commandIndex.json and the local versions.
func template() ([]byte, json.RawMessage) {
	index.once.Do(func() {
		az, err := azcli.Find()
		if err != nil {
			return
		}
		dir, err := os.MkdirTemp("", "testbed-index-")
		if err != nil {
			return
		}
		defer os.RemoveAll(dir)
		if PrepareConfigDir(dir) != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, az, "account", "list", "--output", "none")
		// A closed loopback port as proxy: whatever az tries fails here,
		// nothing leaves the machine.
		cmd.Env = append(AZEnv(nil, dir), "HTTPS_PROXY=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9")
		_ = cmd.Run()
		if data, err := os.ReadFile(filepath.Join(dir, "commandIndex.json")); err == nil && len(data) > 0 {
			index.data = data
		}
		var vc struct {
			Versions json.RawMessage `json:"versions"`
		}
		if data, err := os.ReadFile(filepath.Join(dir, "versionCheck.json")); err == nil &&
			json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &vc) == nil && len(vc.Versions) > 2 {
			index.versions = vc.Versions
		}
	})
	return index.data, index.versions
}

// PrepareConfigDir creates dir (0700) as NewConfigDir does; for non-test
// callers such as azkeep demo.
func PrepareConfigDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	cfg := "[core]\ncollect_telemetry = no\nfirst_run = no\n\n[auto-upgrade]\nenable = no\n"
	if err := writeIfMissing(filepath.Join(dir, "config"), []byte(cfg)); err != nil {
		return err
	}
	// az checks for a newer version once a week (check_time) and caches the
	// answer for a day (update_time); a fresh check_time skips both.
	now := time.Now().Format("2006-01-02 15:04:05.000000")
	vc := fmt.Sprintf(`{"versions": {}, "update_time": "", "check_time": %q}`, now)
	return writeIfMissing(filepath.Join(dir, "versionCheck.json"), []byte(vc))
}

func writeIfMissing(path string, data []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return os.WriteFile(path, data, 0o600)
}

// AZEnv is the environment az runs with: the caller's environment without
// any proxy, CA bundle or AZURE_* variable, then AZURE_CONFIG_DIR=dir,
// telemetry off, and the emulator's proxy and CA (both cases of the proxy
// variables, since Python prefers the lower-case one). emu may be nil.
func AZEnv(emu *entraemu.Emulator, dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE":
			continue
		}
		if strings.HasPrefix(strings.ToUpper(k), "AZURE_") || strings.HasPrefix(k, "MSAL_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"AZURE_CONFIG_DIR="+dir,
		"AZURE_CORE_COLLECT_TELEMETRY=false",
		"AZURE_CORE_NO_COLOR=true",
		"PYTHONWARNINGS=ignore",
	)
	if emu != nil {
		env = append(env, emu.Env()...)
		env = append(env, "https_proxy="+emu.ProxyURL())
	}
	return env
}

// Result is what one az run produced.
type Result struct {
	Stdout string
	Stderr string
	Code   int
	// Err is set when az could not be started or timed out.
	Err error
	// Took is the wall time of the run.
	Took time.Duration
}

// OK reports a zero exit.
func (r Result) OK() bool { return r.Err == nil && r.Code == 0 }

func (r Result) String() string {
	return fmt.Sprintf("exit %d (%v) err=%v\nstdout:\n%s\nstderr:\n%s", r.Code, r.Took, r.Err, r.Stdout, r.Stderr)
}

// DefaultTimeout bounds an az run when ctx has no deadline.
var DefaultTimeout = 2 * time.Minute

// AZ runs the real az with args against emu in config dir dir.
func AZ(ctx context.Context, emu *entraemu.Emulator, dir string, args ...string) Result {
	return AZWithEnv(ctx, emu, dir, nil, args...)
}

// AZWithEnv is AZ with extra environment variables (KEY=VALUE) appended,
// e.g. "AZURE_CORE_USE_MSAL_HTTP_CACHE=false".
func AZWithEnv(ctx context.Context, emu *entraemu.Emulator, dir string, extra []string, args ...string) Result {
	az, err := azcli.Find()
	if err != nil {
		return Result{Code: -1, Err: err}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, az, args...)
	cmd.Env = append(AZEnv(emu, dir), extra...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	// A grandchild holding az's pipes (the stand-in browser) must not hang
	// the test once az itself has exited.
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.Code = ee.ExitCode()
	default:
		r.Code, r.Err = -1, err
		if ctx.Err() != nil {
			r.Err = fmt.Errorf("az %s: %w", strings.Join(args, " "), ctx.Err())
		}
	}
	return r
}

// MustAZ runs az and fails the test unless it exits 0.
func MustAZ(t testing.TB, emu *entraemu.Emulator, dir string, args ...string) Result {
	t.Helper()
	r := AZ(context.Background(), emu, dir, args...)
	if !r.OK() {
		t.Fatalf("az %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// LoginDeviceCode runs `az login --use-device-code --tenant tenantID` in dir
// and fails the test unless it succeeds. The emulator approves the code as
// the tenant's first user (see entraemu.Emulator.ApproveDeviceCodesAs).
func LoginDeviceCode(t testing.TB, emu *entraemu.Emulator, dir, tenantID string) Result {
	t.Helper()
	return MustAZ(t, emu, dir, "login", "--use-device-code", "--tenant", tenantID, "--output", "json")
}
