// Package azcli runs the Azure CLI for azkeep: it finds az (AZKEEP_AZ, else
// PATH), checks its version (MinVersion or newer), runs it with an explicit
// environment (always AZURE_CONFIG_DIR) and a timeout, passes an
// interactive `az login` through to the user's terminal, and turns its
// failures into typed errors: ErrNotInstalled, *TooOldError,
// *TimeoutError, *azure.NeedsLoginError, *ExitError.
//
// az's stdout can hold tokens (az account get-access-token): it is
// returned to the caller and never logged or put into an error.
package azcli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/vault"
)

// MinVersion is the oldest az azkeep supports: 2.30 moved the CLI to MSAL
// and msal_token_cache.json.
const MinVersion = "2.30.0"

// DefaultTimeout bounds a non-interactive az call. A cached
// get-access-token takes about 0.4 s, one that redeems a refresh token
// about 0.5 s, a cold start a few seconds.
const DefaultTimeout = 2 * time.Minute

// EnvAZ names the az executable to use instead of the one on PATH.
const EnvAZ = "AZKEEP_AZ"

// EnvTimeout overrides DefaultTimeout (a Go duration such as "30s"), for
// users on slow links and for tests of a hanging az.
const EnvTimeout = "AZKEEP_AZ_TIMEOUT"

// Options configure a Runner. The zero value runs the az on PATH with the
// process environment and the real terminal.
type Options struct {
	// Path is the az executable; "" means AZKEEP_AZ, else az on PATH.
	Path string
	// Env is the base environment; nil means os.Environ().
	Env []string
	// Timeout bounds each non-interactive call; 0 means AZKEEP_AZ_TIMEOUT,
	// else DefaultTimeout.
	Timeout time.Duration
	// Stdin, Stdout and Stderr are the terminal for interactive calls;
	// nil means the process's own.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Log, when set, receives one line per call: the command (no values
	// that could be secret), the config dir, the exit status and duration.
	Log func(string)
	// StateDir, when set, is where a passed version check is remembered
	// (VersionCacheFile) for 24 h while the az install is unchanged, so
	// short-lived azkeep commands skip the 1–3 s `az version` run.
	StateDir string
}

// Runner runs az. It is safe for concurrent use; the version check runs
// once per Runner.
type Runner struct {
	opts Options

	optErr error // a bad AZKEEP_AZ_TIMEOUT, reported by every call

	mu      sync.Mutex
	path    string
	version string
	checked bool
}

// New returns a Runner; it does not look for az yet.
func New(opts Options) *Runner {
	var optErr error
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
		if v := os.Getenv(EnvTimeout); v != "" {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil || d <= 0 {
				optErr = hint.New(fmt.Errorf("%s=%q is not a positive duration", EnvTimeout, v), "use a Go duration such as 30s or 2m, or unset it")
			} else {
				opts.Timeout = d
			}
		}
	}
	return &Runner{opts: opts, optErr: optErr}
}

// Find returns the az to run: AZKEEP_AZ when set (it must exist), else az
// on PATH (az.cmd on Windows). The error wraps ErrNotInstalled.
func Find() (string, error) {
	return find("")
}

func find(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv(EnvAZ)
	}
	if explicit != "" {
		if st, err := os.Stat(explicit); err != nil || st.IsDir() {
			return "", fmt.Errorf("%w: %s=%s does not exist", ErrNotInstalled, EnvAZ, explicit)
		}
		return explicit, nil
	}
	p, err := exec.LookPath("az")
	if err != nil {
		return "", fmt.Errorf("%w on PATH", ErrNotInstalled)
	}
	return p, nil
}

// Path finds az (once) and returns its path.
func (r *Runner) Path() (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pathLocked()
}

func (r *Runner) pathLocked() (string, error) {
	if r.optErr != nil {
		return "", r.optErr
	}
	if r.path != "" {
		return r.path, nil
	}
	p, err := find(r.opts.Path)
	if err != nil {
		return "", withHint(err)
	}
	r.path = p
	return p, nil
}

// Check finds az and verifies its version is MinVersion or newer (once per
// Runner; a failure is not cached).
func (r *Runner) Check(ctx context.Context) error {
	return r.checkIn(ctx, "")
}

func (r *Runner) checkIn(ctx context.Context, configDir string) error {
	_, err := r.versionIn(ctx, configDir)
	return err
}

// Version runs `az version` and returns az's version ("2.45.0"), checked
// against MinVersion: an older az gives a *TooOldError (with the version).
// It runs in the environment's config dir (AZURE_CONFIG_DIR or ~/.azure).
func (r *Runner) Version(ctx context.Context) (string, error) {
	return r.versionIn(ctx, "")
}

// versionIn runs `az version` with AZURE_CONFIG_DIR=configDir (the dir of
// the call that needs the check), or the environment's when "".
func (r *Runner) versionIn(ctx context.Context, configDir string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checked {
		return r.version, nil
	}
	path, err := r.pathLocked()
	if err != nil {
		return "", err
	}
	if v, ok := r.cachedVersion(path); ok {
		r.version, r.checked = v, true
		return v, nil
	}
	res, err := r.exec(ctx, path, Call{Args: []string{"version", "--output", "json"}, ConfigDir: configDir}, configDir != "")
	if err != nil {
		var ee *ExitError
		if errors.As(err, &ee) {
			return "", withHint(&VersionUnknownError{Path: path, Output: shorten(ee.Stderr, 200), Err: err})
		}
		return "", err
	}
	v, perr := parseVersion(res.Stdout)
	if perr != nil {
		return "", withHint(&VersionUnknownError{Path: path, Output: shorten(Redact(strings.TrimSpace(string(res.Stdout))), 200), Err: perr})
	}
	if compareVersions(v, MinVersion) < 0 {
		return v, withHint(&TooOldError{Path: path, Version: v, Min: MinVersion})
	}
	r.version, r.checked = v, true
	r.rememberVersion(path, v)
	return v, nil
}

// Call is one az invocation.
type Call struct {
	// Args are az's arguments. Never put a secret here: command lines are
	// visible to every user of the machine.
	Args []string
	// ConfigDir is the AZURE_CONFIG_DIR az runs with (required).
	ConfigDir string
	// Env holds extra KEY=VALUE pairs (an emulator's HTTPS_PROXY, …).
	Env []string
	// Token marks a call that redeems or reads tokens: az then runs with
	// AZURE_CORE_USE_MSAL_HTTP_CACHE=false (MSAL would replay a cached
	// invalid_grant for 60 s, and after a rejected grant az 2.45 leaves the
	// refresh token in msal_http_cache.bin when the cache is on) and its
	// stdout is treated as a
	// secret. The price is two discovery requests per call (about 20–40
	// ms of az's time).
	Token bool
	// Private marks a token call in a config dir only azkeep uses (the az
	// engine's staging dir): MSAL's HTTP cache stays on there, sparing az
	// the discovery requests (about 50 ms a call). It is deleted after a
	// failed call, when az 2.45 has pickled the failed request into it,
	// refresh token included; and a rejection is asked once more without
	// it, since MSAL replays a cached rejection without sending it.
	Private bool
	// Throwaway marks a config dir azkeep created and removes: telemetry
	// is switched off there (never in the user's own dir).
	Throwaway bool
	// Timeout overrides the Runner's timeout for this call.
	Timeout time.Duration
	// Stdin is fed to az; nil means none for Run and the terminal
	// (Options.Stdin, else os.Stdin) for RunInteractive.
	Stdin io.Reader
	// Stdout and Stderr replace the terminal for RunInteractive; nil means
	// Options.Stdout/Stderr, else the process's own.
	Stdout, Stderr io.Writer
}

// Result is what a non-interactive call printed.
type Result struct {
	// Stdout may hold tokens: never log it.
	Stdout   []byte
	Stderr   string
	Duration time.Duration
}

func (c Call) env(base []string, configDir bool) []string {
	// az never needs the vault's key; a child holding it could open the
	// file vault.
	drop := map[string]bool{envKey(vault.PassphraseEnv): true}
	var add []string
	if configDir {
		drop["AZURE_CONFIG_DIR"] = true
		add = append(add, "AZURE_CONFIG_DIR="+c.ConfigDir)
	}
	for _, kv := range base {
		if kv == "AZURE_CONFIG_DIR=" { // empty makes az fail; unset means ~/.azure
			drop["AZURE_CONFIG_DIR"] = true
		}
	}
	if c.Token && !c.Private {
		drop["AZURE_CORE_USE_MSAL_HTTP_CACHE"] = true
		add = append(add, "AZURE_CORE_USE_MSAL_HTTP_CACHE=false")
	}
	if c.Throwaway || c.Private {
		// The dir's config decides (PrepareDir turned encryption off): on
		// Linux and macOS the encrypted store is the one keyring item the
		// user's own dir reads.
		drop[azconfig.EncryptEnv] = true
	}
	if c.Throwaway {
		drop["AZURE_CORE_COLLECT_TELEMETRY"] = true
		add = append(add, "AZURE_CORE_COLLECT_TELEMETRY=false")
	}
	for _, kv := range c.Env {
		k, _, _ := strings.Cut(kv, "=")
		drop[envKey(k)] = true
	}
	out := make([]string, 0, len(base)+len(add)+len(c.Env))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[envKey(k)] {
			out = append(out, kv)
		}
	}
	out = append(out, add...)
	return append(out, c.Env...)
}

// Run runs a non-interactive az call in c.ConfigDir, after the version
// check, and returns its output; a failure is a typed error (see the
// package comment).
func (r *Runner) Run(ctx context.Context, c Call) (Result, error) {
	if c.ConfigDir == "" {
		return Result{}, errors.New("azcli: Call.ConfigDir is required")
	}
	if err := r.checkIn(ctx, c.ConfigDir); err != nil {
		return Result{}, err
	}
	path, err := r.Path()
	if err != nil {
		return Result{}, err
	}
	res, err := r.exec(ctx, path, c, true)
	if err == nil || !c.Private {
		return res, err
	}
	if serr := scrubHTTPCache(c.ConfigDir); serr != nil {
		return res, errors.Join(err, serr)
	}
	var nl *azure.NeedsLoginError
	if c.Token && errors.As(err, &nl) && nl.Code != "login_required" && ctx.Err() == nil {
		// The endpoint's answer, or MSAL's replay of an earlier one: ask
		// again with the cache gone.
		if res, err = r.exec(ctx, path, c, true); err != nil {
			if serr := scrubHTTPCache(c.ConfigDir); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}
	return res, err
}

// scrubHTTPCache removes MSAL's HTTP cache from a private dir after a
// failed call (see Call.Private); az fetches the discovery documents again.
func scrubHTTPCache(dir string) error {
	p := filepath.Join(dir, azconfig.HTTPCacheFile)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s, which may hold a refresh token: %w", p, err)
	}
	return nil
}

func (r *Runner) baseEnv() []string {
	if r.opts.Env != nil {
		return r.opts.Env
	}
	return os.Environ()
}

func (r *Runner) exec(ctx context.Context, path string, c Call, setDir bool) (Result, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = r.opts.Timeout
	}
	ctx2, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx2, path, c.Args...)
	cmd.Env = c.env(r.baseEnv(), setDir)
	cmd.Stdin = c.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// az may leave a child (the telemetry uploader) holding the pipes:
	// kill the whole group on timeout and stop waiting for the pipes soon
	// after.
	setGroup(cmd)
	inheritLocks(ctx, cmd)
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	res := Result{Stdout: stdout.Bytes(), Stderr: stderr.String(), Duration: time.Since(start)}
	name := commandName(c.Args)
	r.log(name, c.ConfigDir, err, res.Duration)
	if err == nil {
		return res, nil
	}
	if ctx.Err() != nil { // the caller canceled (Ctrl-C)
		return res, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	if ctx2.Err() == context.DeadlineExceeded {
		return res, withHint(&TimeoutError{Command: name, After: timeout})
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return res, withHint(classify(name, ee.ExitCode(), res.Stderr))
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return res, withHint(fmt.Errorf("%w: %v", ErrNotInstalled, err))
	}
	return res, fmt.Errorf("%s: %w", name, err)
}

// RunInteractive runs az with the user's terminal attached (az login: the
// device code, the browser prompt, MFA) and no timeout. Ctrl-C reaches az
// directly (same process group); when ctx is canceled az gets an
// interrupt, then is killed if it does not exit. Stdout is not captured.
func (r *Runner) RunInteractive(ctx context.Context, c Call) error {
	if c.ConfigDir == "" {
		return errors.New("azcli: Call.ConfigDir is required")
	}
	if err := r.checkIn(ctx, c.ConfigDir); err != nil {
		return err
	}
	path, err := r.Path()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, path, c.Args...)
	cmd.Env = c.env(r.baseEnv(), true)
	cmd.Stdin = or(c.Stdin, or(r.opts.Stdin, os.Stdin))
	cmd.Stdout = orW(c.Stdout, orW(r.opts.Stdout, os.Stdout))
	// Keep a copy of stderr to classify a failure, while the user sees it.
	var stderr tailBuffer
	cmd.Stderr = io.MultiWriter(orW(c.Stderr, orW(r.opts.Stderr, os.Stderr)), &stderr)
	cmd.Cancel = func() error { return interrupt(cmd) }
	cmd.WaitDelay = 5 * time.Second
	dieWithParent(cmd)
	start := time.Now()
	err = cmd.Run()
	name := commandName(c.Args)
	r.log(name, c.ConfigDir, err, time.Since(start))
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s canceled: %w", name, ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return withHint(classify(name, ee.ExitCode(), stderr.String()))
	}
	return fmt.Errorf("%s: %w", name, err)
}

// LoginExperienceOff turns off the subscription selector az 2.61 and newer
// show after a login on a terminal (core.login_experience_v2).
const LoginExperienceOff = "AZURE_CORE_LOGIN_EXPERIENCE_V2=false"

// LoginOptions is one interactive `az login`.
type LoginOptions struct {
	// ConfigDir is the (private) config dir az logs in to.
	ConfigDir string
	// Tenant is a tenant id or domain ("" lets az pick: organizations).
	Tenant string
	// DeviceCode uses the device-code flow (headless machines).
	DeviceCode bool
	// Throwaway marks a dir azkeep removes afterwards: telemetry off there.
	Throwaway bool
	// Env holds extra KEY=VALUE pairs (an emulator's proxy and CA).
	Env []string
	// In, Out and Err are the user's terminal; nil means the Runner's.
	In       io.Reader
	Out, Err io.Writer
}

// Login runs `az login [--tenant T] [--use-device-code] --output none`
// interactively (see RunInteractive): the browser or device-code prompt
// and MFA reach the user, there is no timeout, and Ctrl-C cancels.
func (r *Runner) Login(ctx context.Context, o LoginOptions) error {
	args := []string{"login"}
	if o.Tenant != "" {
		args = append(args, "--tenant", o.Tenant)
	}
	if o.DeviceCode {
		args = append(args, "--use-device-code")
	}
	args = append(args, "--output", "none")
	// az 2.61 and newer ask on a terminal which subscription to select
	// after the tokens were issued; azkeep selects none, and when the
	// terminal's input closes az fails with EOFError. 2.45 ignores this.
	env := append([]string{LoginExperienceOff}, o.Env...)
	return r.RunInteractive(ctx, Call{
		Args: args, ConfigDir: o.ConfigDir, Env: env, Throwaway: o.Throwaway,
		Stdin: o.In, Stdout: o.Out, Stderr: o.Err,
	})
}

func or(a, b io.Reader) io.Reader {
	if a != nil {
		return a
	}
	return b
}

func orW(a, b io.Writer) io.Writer {
	if a != nil {
		return a
	}
	return b
}

// tailBuffer keeps the last 16 KB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 16<<10 {
		t.buf = t.buf[len(t.buf)-16<<10:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// commandName is "az" and the leading words of args up to the first flag:
// what a log or an error may show of a command line.
func commandName(args []string) string {
	words := []string{"az"}
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

func (r *Runner) log(name, dir string, err error, d time.Duration) {
	if r.opts.Log == nil {
		return
	}
	status := "ok"
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			status = fmt.Sprintf("exit %d", ee.ExitCode())
		} else {
			status = "error"
		}
	}
	r.opts.Log(fmt.Sprintf("%s (AZURE_CONFIG_DIR=%s): %s in %s", name, dir, status, d.Round(time.Millisecond)))
}

// RunIn runs a non-interactive az call in configDir and returns its stdout
// (engine.AZRunner); token marks a token call (see Call.Token).
func (r *Runner) RunIn(ctx context.Context, configDir string, token bool, args ...string) ([]byte, error) {
	res, err := r.Run(ctx, Call{Args: args, ConfigDir: configDir, Token: token})
	return res.Stdout, err
}

// RunPrivate runs a token call in configDir, a dir only azkeep uses (see
// Call.Private): the az engine's staging dir (engine.PrivateRunner).
func (r *Runner) RunPrivate(ctx context.Context, configDir string, args ...string) ([]byte, error) {
	res, err := r.Run(ctx, Call{Args: args, ConfigDir: configDir, Token: true, Private: true})
	return res.Stdout, err
}
