package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/childproc"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/shellenv"
	"github.com/azkeep/azkeep/internal/workspace"
)

// fakeExecEnv materialises by writing a marker file; no vault, no az.
type fakeExecEnv struct {
	mu      sync.Mutex
	calls   int
	queries []string
	extras  [][]string
	fail    error
	expires time.Time
}

func (f *fakeExecEnv) env(home string, out, errw io.Writer) *execEnv {
	return &execEnv{
		IO:      IO{In: strings.NewReader(""), Out: out, Err: errw},
		Home:    home,
		Environ: []string{"PATH=" + os.Getenv("PATH"), "AZURE_CLIENT_SECRET=leak", "ARM_CLIENT_ID=x", "KEEP=1", "AZURE_CONFIG_DIR=/home/u/.azure"},
		Window:  20 * time.Minute,
		Now:     time.Now,
		Materialize: func(ctx context.Context, query, dir string, extra ...string) (*lifecycle.Materialized, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls++
			f.queries = append(f.queries, query)
			f.extras = append(f.extras, extra)
			if f.fail != nil {
				return nil, f.fail
			}
			if err := os.WriteFile(filepath.Join(dir, "azureProfile.json"), []byte(query), 0o600); err != nil {
				return nil, err
			}
			return &lifecycle.Materialized{
				Session:     workspace.Session{ID: "sess-1", SubscriptionID: "sub-1", TenantID: "tenant-1"},
				Integration: workspace.Integration{TenantID: "tenant-1"},
				ConfigDir:   dir,
				ExpiresAt:   f.expires,
			}, nil
		},
		Prepare: func(dir string) error { return os.WriteFile(filepath.Join(dir, "config"), nil, 0o600) },
		After:   time.After,
	}
}

func needSh(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
}

func TestExecRunsChildWithSessionEnv(t *testing.T) {
	needSh(t)
	var out, errw bytes.Buffer
	f := &fakeExecEnv{expires: time.Now().Add(time.Hour)}
	e := f.env(t.TempDir(), &out, &errw)
	err := execRun(context.Background(), e, ExecOptions{Session: "prod", Command: []string{"sh", "-c",
		`echo "dir=$AZURE_CONFIG_DIR"; echo "sub=$AZURE_SUBSCRIPTION_ID $ARM_SUBSCRIPTION_ID"; echo "tenant=$AZURE_TENANT_ID $ARM_TENANT_ID";` +
			`echo "session=$AZKEEP_SESSION"; echo "secret=${AZURE_CLIENT_SECRET-unset} ${ARM_CLIENT_ID-unset} keep=$KEEP"; echo "id=${IDENTITY_ENDPOINT-unset}";` +
			`cat "$AZURE_CONFIG_DIR/azureProfile.json"; echo; exit 3`}})
	var exit *childproc.ExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Fatalf("err %v, want exit 3; stderr %s", err, errw.String())
	}
	got := out.String()
	for _, want := range []string{"sub=sub-1 sub-1", "tenant=tenant-1 tenant-1", "session=sess-1", "secret=unset unset keep=1", "id=unset", "prod"} {
		if !strings.Contains(got, want) {
			t.Errorf("child output lacks %q:\n%s", want, got)
		}
	}
	dir := strings.TrimPrefix(strings.SplitN(got, "\n", 2)[0], "dir=")
	if !strings.HasPrefix(dir, execBase(e.Home)) {
		t.Fatalf("AZURE_CONFIG_DIR %q not under %s", dir, execBase(e.Home))
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("per-session dir still there after exit: %v", err)
	}
}

func TestExecServerEnvAndCleanupOnMaterializeFailure(t *testing.T) {
	needSh(t)
	var out, errw bytes.Buffer
	f := &fakeExecEnv{expires: time.Now().Add(time.Hour)}
	e := f.env(t.TempDir(), &out, &errw)
	err := execRun(context.Background(), e, ExecOptions{Session: "prod", Server: true, Command: []string{"sh", "-c", `echo "$IDENTITY_ENDPOINT ${#IDENTITY_HEADER}"`}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "http://127.0.0.1:") || !strings.Contains(out.String(), "/msi/token 64") {
		t.Fatalf("server env: %q", out.String())
	}

	f.fail = errors.New("vault locked")
	err = execRun(context.Background(), e, ExecOptions{Session: "prod", Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "vault locked") {
		t.Fatalf("err %v", err)
	}
	entries, _ := os.ReadDir(execBase(e.Home))
	if len(entries) != 0 {
		t.Fatalf("dirs left after a failed exec: %v", entries)
	}
}

func TestExecSweepsStaleDirs(t *testing.T) {
	needSh(t)
	var out, errw bytes.Buffer
	f := &fakeExecEnv{expires: time.Now().Add(time.Hour)}
	e := f.env(t.TempDir(), &out, &errw)
	// A dir whose owner (a finished process) is gone, as a SIGKILLed azkeep leaves it.
	dead := exec.Command("true")
	dead.Run()
	stale := filepath.Join(execBase(e.Home), "s-stale")
	os.MkdirAll(stale, 0o700)
	os.WriteFile(filepath.Join(stale, sessiondir.OwnerFile), []byte(strings.TrimSpace(
		// pid only: no start time to compare
		strconv.Itoa(dead.Process.Pid))+"\n"), 0o600)
	if err := execRun(context.Background(), e, ExecOptions{Session: "prod", Command: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale dir kept: %v", err)
	}
}

// The renewal while the child runs names the session by id: a subscription
// renamed meanwhile must not break it.
func TestExecRenewsBySessionID(t *testing.T) {
	needSh(t)
	var out, errw bytes.Buffer
	f := &fakeExecEnv{expires: time.Now().Add(time.Second)} // renewed after 1 s (floor)
	e := f.env(t.TempDir(), &out, &errw)
	if err := execRun(context.Background(), e, ExecOptions{Session: "Prod Sub", Command: []string{"sleep", "1.6"}}); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queries) < 2 || f.queries[0] != "Prod Sub" || f.queries[1] != "sess-1" {
		t.Fatalf("materialised with %v, want the name then the id", f.queries)
	}
}

func TestNesting(t *testing.T) {
	execDir, envDir := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(execDir, sessiondir.OwnerFile), []byte("1\n"), 0o600)
	for _, c := range []struct {
		nested       bool
		session, dir string
		refused      bool
	}{
		{false, "", "", false},
		{false, "", execDir, false},
		{true, "s1", execDir, false},
		{false, "s1", envDir, false}, // a shell set up by azkeep env
		{false, "s1", execDir, true},
	} {
		err := checkNesting(c.nested, c.session, c.dir)
		if (err != nil) != c.refused {
			t.Errorf("%+v: %v", c, err)
		}
		if err != nil && (hint.Of(err) == "" || !strings.Contains(err.Error(), "s1")) {
			t.Errorf("refusal without hint or session: %v", err)
		}
	}
}

func TestChildEnv(t *testing.T) {
	env := childEnv([]string{"A=1", "AZURE_CLIENT_SECRET=s", "AZURE_CONFIG_DIR=/old", "MSI_ENDPOINT=x", "B=2=3"},
		[][2]string{{"AZURE_CONFIG_DIR", "/new"}, {"AZKEEP_SESSION", "id"}})
	want := "A=1 B=2=3 AZURE_CONFIG_DIR=/new AZKEEP_SESSION=id"
	if strings.Join(env, " ") != want {
		t.Fatalf("got %v", env)
	}
}

// fakeTimer fires each After as soon as the test lets it.
type fakeTimer struct {
	waits chan time.Duration
	fire  chan time.Time
}

func (f *fakeTimer) after(d time.Duration) <-chan time.Time {
	f.waits <- d
	return f.fire
}

func TestKeepFreshRenewsBeforeExpiryAndBacksOff(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	ft := &fakeTimer{waits: make(chan time.Duration), fire: make(chan time.Time)}
	var errw bytes.Buffer
	e := &execEnv{IO: IO{Err: &errw}, Window: 20 * time.Minute, Now: func() time.Time { return now }, After: ft.after}
	results := []error{nil, errors.New("boom"), nil}
	var n int
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		keepFresh(ctx, e, now.Add(60*time.Minute), func(context.Context) (time.Time, error) {
			err := results[n]
			n++
			return now.Add(90 * time.Minute), err
		})
		close(done)
	}()
	expect := []time.Duration{40 * time.Minute, 70 * time.Minute, 15 * time.Second, 70 * time.Minute}
	for i, want := range expect {
		got := <-ft.waits
		if got != want {
			t.Fatalf("wait %d: %s, want %s", i, got, want)
		}
		if i < len(expect)-1 {
			ft.fire <- now
		}
	}
	cancel()
	<-done
	if n != 3 || !strings.Contains(errw.String(), "boom") {
		t.Fatalf("refreshes %d, stderr %q", n, errw.String())
	}
}

func TestRenewIn(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		left, window, want time.Duration
	}{
		{60 * time.Minute, 20 * time.Minute, 40 * time.Minute},
		{10 * time.Minute, 20 * time.Minute, 5 * time.Minute}, // shorter than the window
		{time.Second, 20 * time.Minute, time.Second},          // floor
		{-time.Minute, 20 * time.Minute, time.Second},         // expired: soon, not at once forever
	} {
		if got := renewIn(now.Add(c.left), c.window, now); got != c.want {
			t.Errorf("left %s window %s: %s, want %s", c.left, c.window, got, c.want)
		}
	}
}

func TestEnvScriptRoundTripsThroughBash(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	environ := []string{"AZURE_CONFIG_DIR=/home/u/my azure", "AZURE_CLIENT_SECRET=s3cret", "PATH=" + os.Getenv("PATH")}
	script, err := envScript(shellenv.Bash, environ, [][2]string{{"AZURE_CONFIG_DIR", "/x/it's here"}, {"AZKEEP_SESSION", "id1"}})
	if err != nil {
		t.Fatal(err)
	}
	var unset bytes.Buffer
	in := append(environ, "AZKEEP_SESSION=id1", prevConfigDirEnv+"=/home/u/my azure", "AZURE_CONFIG_DIR=/x/it's here")
	if err := envUnset(IO{Out: &unset}, shellenv.Bash, in); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--norc", "-c", script+`echo "1:$AZURE_CONFIG_DIR|${AZURE_CLIENT_SECRET-unset}|$AZKEEP_SESSION|$`+prevConfigDirEnv+`"`+"\n"+
		unset.String()+`echo "2:$AZURE_CONFIG_DIR|${AZKEEP_SESSION-unset}|${`+prevConfigDirEnv+`-unset}"`)
	cmd.Env = environ
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := "1:/x/it's here|unset|id1|/home/u/my azure\n2:/home/u/my azure|unset|unset\n"
	if string(out) != want {
		t.Fatalf("got %q\nwant %q\nscript:\n%s%s", out, want, script, unset.String())
	}
}

func TestEnvRunReusesAFreshDir(t *testing.T) {
	var out, errw bytes.Buffer
	f := &fakeExecEnv{expires: time.Now().Add(time.Hour)}
	e := f.env(t.TempDir(), &out, &errw)
	resolve := func(q string) (*workspace.Session, *workspace.Integration, error) {
		return &workspace.Session{ID: "sess-1", SubscriptionID: "sub-1", TenantID: "tenant-1"}, &workspace.Integration{}, nil
	}
	for i := 0; i < 2; i++ {
		out.Reset()
		if err := envRun(context.Background(), e, resolve, shellenv.Fish, "prod", false); err != nil {
			t.Fatal(err)
		}
	}
	if f.calls != 1 {
		t.Fatalf("materialised %d times, want 1 (second run finds the dir fresh)", f.calls)
	}
	dir := sessiondir.PersistentDir(e.Home, "sess-1")
	for _, want := range []string{"set -e AZURE_CLIENT_SECRET;", "set -gx AZURE_CONFIG_DIR '" + dir + "';", "set -gx ARM_TENANT_ID 'tenant-1';", "set -gx " + prevConfigDirEnv + " '/home/u/.azure';"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Due again: renewed.
	e.Now = func() time.Time { return time.Now().Add(45 * time.Minute) }
	if err := envRun(context.Background(), e, resolve, shellenv.Bash, "prod", false); err != nil {
		t.Fatal(err)
	}
	if f.calls != 2 {
		t.Fatalf("materialised %d times, want 2", f.calls)
	}
}

func TestEvalHint(t *testing.T) {
	for sh, want := range map[shellenv.Shell]string{
		shellenv.Bash:       `eval "$(azkeep env 'my sub')"`,
		shellenv.Zsh:        `eval "$(azkeep env 'my sub')"`,
		shellenv.Fish:       `azkeep env 'my sub' --shell fish | source`,
		shellenv.PowerShell: `azkeep env 'my sub' --shell powershell | Invoke-Expression`,
	} {
		if got := evalHint(sh, "my sub"); got != want {
			t.Errorf("%s: %s, want %s", sh, got, want)
		}
	}
}

// Regression: exec handed AZKEEP_VAULT_PASSPHRASE to its child, which could
// then open the file vault and read every refresh token.
func TestChildEnvWithoutVaultKey(t *testing.T) {
	env := childEnv([]string{"AZKEEP_VAULT_PASSPHRASE=secret", "AZKEEP_HOME=/h"}, [][2]string{{"AZKEEP_SESSION", "id"}})
	if got, want := strings.Join(env, " "), "AZKEEP_HOME=/h AZKEEP_SESSION=id"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}
