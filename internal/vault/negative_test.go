package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/hint"
)

// probeResult is what a "probe" child reports about one Open + Get.
type probeResult struct {
	Err         string `json:"err"`
	Hint        string `json:"hint"`
	Unavailable bool   `json:"unavailable"`
	Locked      bool   `json:"locked"`
	Timeout     bool   `json:"timeout"`
	NotFound    bool   `json:"not_found"`
	Elapsed     string `json:"elapsed"`
}

func childProbe(spec childSpec) int {
	start := time.Now()
	var err error
	s, err := spec.open()
	if err == nil {
		_, err = s.Get(context.Background(), "probe/refresh-token")
	}
	r := probeResult{Elapsed: time.Since(start).String()}
	if err != nil {
		r.Err, r.Hint = err.Error(), hint.Of(err)
		r.Unavailable = errors.Is(err, ErrUnavailable)
		r.Locked = errors.Is(err, ErrLocked)
		r.Timeout = errors.Is(err, ErrTimeout)
		r.NotFound = errors.Is(err, ErrNotFound)
	}
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

func probe(t *testing.T, spec childSpec, env ...string) probeResult {
	t.Helper()
	spec.Mode = "probe"
	out, err := runChild(t, spec, env...)
	if err != nil {
		t.Fatalf("probe child: %v\n%s", err, out)
	}
	var r probeResult
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("probe output: %v\n%s", err, out)
	}
	return r
}

// No D-Bus session at all: Open fails at once, names the Secret Service and
// never autolaunches a bus. Run in a child with the variable removed: godbus
// keeps one connection per process.
func TestNoDBusSession(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the Secret Service backend's session check is Linux's")
	}
	if _, err := os.Stat(fmt.Sprintf("/run/user/%d/bus", os.Getuid())); err == nil {
		t.Skip("a systemd user bus exists at /run/user/UID/bus; godbus would find it")
	}
	r := probe(t, childSpec{Backend: SecretService, Home: t.TempDir(), Service: "azkeep-test"}, "DBUS_SESSION_BUS_ADDRESS=")
	if !r.Unavailable || !strings.Contains(r.Err, "Secret Service") || !strings.Contains(r.Err, "no D-Bus session") {
		t.Errorf("error = %q (unavailable=%v), want ErrUnavailable naming the Secret Service", r.Err, r.Unavailable)
	}
	if !strings.Contains(r.Hint, "--vault") {
		t.Errorf("hint = %q, want the fix", r.Hint)
	}
	// A session address whose bus is gone: an error at once, too.
	r = probe(t, childSpec{Backend: SecretService, Home: t.TempDir(), Service: "azkeep-test"},
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(t.TempDir(), "gone"))
	if !r.Unavailable || !strings.Contains(r.Err, "Secret Service") || r.Hint == "" {
		t.Errorf("dead bus: %+v, want ErrUnavailable naming the Secret Service, with a hint", r)
	}
}

// A bus socket that accepts and never answers would block godbus forever:
// the call returns ErrTimeout within the bound.
func TestSilentBusTimesOut(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("unix sockets")
	}
	dir, err := os.MkdirTemp("", "bus")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s")
	l, err := listenUnix(sock)
	if err != nil {
		t.Skip("cannot listen on a unix socket:", err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	r := probe(t, childSpec{Backend: SecretService, Home: t.TempDir(), Service: "azkeep-test", Timeout: "500ms"},
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+sock)
	if !r.Timeout || !strings.Contains(r.Err, "secret-service") {
		t.Errorf("error = %q, want ErrTimeout naming secret-service", r.Err)
	}
	if r.Hint == "" {
		t.Errorf("no hint on a timeout")
	}
}

// snapshot hashes every file under dir, to prove an error left them alone.
func snapshot(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && filepath.Base(p) != "lock" {
			b, _ := os.ReadFile(p)
			out[p] = sha256.Sum256(b)
		}
		return nil
	})
	return out
}

func sameFiles(t *testing.T, before, after map[string][32]byte) {
	t.Helper()
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("files changed after a refused call:\nbefore %v\nafter  %v", before, after)
	}
}

func TestFileWrongPassphrase(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	good, _ := openSpec(t, childSpec{Backend: File, Home: home, Pass: testPass})
	mustSet(t, good, "contoso/refresh-token", []byte("rt-secret"))
	before := snapshot(t, home)

	bad, err := childSpec{Backend: File, Home: home, Pass: "wrong"}.open()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = bad.Get(ctx, "contoso/refresh-token")
	if !errors.Is(err, ErrWrongPassphrase) || hint.Of(err) == "" || !strings.Contains(err.Error(), "file vault") {
		t.Errorf("Get with a wrong passphrase = %v (hint %q)", err, hint.Of(err))
	}
	if err := bad.Set(ctx, "contoso/refresh-token", []byte("x")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("Set into an existing file with a wrong passphrase = %v", err)
	}
	// A new integration file would mix two passphrases in one vault.
	if err := bad.Set(ctx, "fabrikam/refresh-token", []byte("x")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("Set of a new integration with a wrong passphrase = %v", err)
	}
	if err := bad.Delete(ctx, "contoso/refresh-token"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("Delete with a wrong passphrase = %v", err)
	}
	sameFiles(t, before, snapshot(t, home))
	if got := mustGet(t, good, "contoso/refresh-token"); string(got) != "rt-secret" {
		t.Errorf("good passphrase reads %q", got)
	}
}

func TestFileNoPassphrase(t *testing.T) {
	t.Setenv(PassphraseEnv, "")
	s, err := Open(File, Options{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Set(context.Background(), "a/b", []byte("x"))
	if err == nil || !strings.Contains(hint.Of(err), PassphraseEnv) {
		t.Errorf("Set without a passphrase = %v (hint %q)", err, hint.Of(err))
	}
}

func TestFilePassphraseFromEnv(t *testing.T) {
	home := t.TempDir()
	t.Setenv(PassphraseEnv, "from-env")
	s, err := Open(File, Options{Home: home, ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "a/b", []byte("x"))
	t.Setenv(PassphraseEnv, "other")
	s2, _ := Open(File, Options{Home: home})
	if _, err := s2.Get(context.Background(), "a/b"); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("Get with another env passphrase = %v", err)
	}
}

func TestFileCorrupted(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	s, spec := openSpec(t, childSpec{Backend: File, Home: home, Pass: testPass})
	mustSet(t, s, "contoso/refresh-token", []byte("rt-secret"))
	mustSet(t, s, "contoso/profile", randBytes(5000))
	files, _ := filepath.Glob(filepath.Join(storeDir(spec), "items", "contoso.age"))
	if len(files) != 1 {
		t.Fatalf("integration file not found: %v", files)
	}
	for name, damage := range map[string]func([]byte) []byte{
		"flipped byte in payload": func(b []byte) []byte { b[len(b)-20] ^= 0x55; return b },
		"truncated":               func(b []byte) []byte { return b[:len(b)/2] },
		"garbage":                 func(b []byte) []byte { return []byte("not an age file\n") },
	} {
		t.Run(name, func(t *testing.T) {
			orig, _ := os.ReadFile(files[0])
			defer os.WriteFile(files[0], orig, 0o600)
			os.WriteFile(files[0], damage(append([]byte(nil), orig...)), 0o600)
			// A fresh store: no cache of the good content.
			s2, err := spec.open()
			if err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, home)
			ctx := context.Background()
			if _, err := s2.Get(ctx, "contoso/refresh-token"); !errors.Is(err, ErrCorrupt) || hint.Of(err) == "" {
				t.Errorf("Get = %v, want ErrCorrupt with a hint", err)
			}
			if err := s2.Set(ctx, "contoso/refresh-token", []byte("new")); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Set into a corrupted file = %v, want ErrCorrupt", err)
			}
			if err := s2.Delete(ctx, "contoso/profile"); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Delete from a corrupted file = %v, want ErrCorrupt", err)
			}
			sameFiles(t, before, snapshot(t, home))
		})
	}
}

// A sealed file of a size-limited keyring, damaged: an error, the file untouched.
func TestSealedFileCorrupted(t *testing.T) {
	t.Parallel()
	need(t, haveSecretService(t), "a real Secret Service (gnome-keyring in a private D-Bus session)")
	home := t.TempDir()
	s, spec := openSpec(t, childSpec{Backend: SecretService, Home: home, Service: "azkeep-test-" + randHex(6), Limit: wincredLimit})
	mustSet(t, s, "contoso/profile", randBytes(30000))
	files, _ := filepath.Glob(filepath.Join(storeDir(spec), "sealed", "*"))
	if len(files) != 1 {
		t.Fatalf("sealed files = %v", files)
	}
	b, _ := os.ReadFile(files[0])
	b[len(b)/2] ^= 1
	os.WriteFile(files[0], b, 0o600)
	before := snapshot(t, home)
	if _, err := s.Get(context.Background(), "contoso/profile"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "secret-service") {
		t.Errorf("Get = %v, want ErrCorrupt naming secret-service", err)
	}
	sameFiles(t, before, snapshot(t, home))
}

func TestPassWithoutGPGKey(t *testing.T) {
	t.Parallel()
	// A store initialised to a key gpg does not have: pass init accepts it.
	env, _ := newPassEnv(t, "0123456789ABCDEF0123456789ABCDEF01234567")
	_, err := Open(Pass, Options{Home: t.TempDir(), Env: env})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "0123456789ABCDEF") || !strings.Contains(err.Error(), "pass vault") {
		t.Errorf("Open = %v, want ErrUnavailable naming the key and the backend", err)
	}
	if !strings.Contains(hint.Of(err), "pass init") {
		t.Errorf("hint = %q", hint.Of(err))
	}
	// No store at all.
	env2 := []string{envValueKV(env, "GNUPGHOME"), "PASSWORD_STORE_DIR=" + filepath.Join(t.TempDir(), "none")}
	_, err = Open(Pass, Options{Home: t.TempDir(), Env: env2})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(hint.Of(err), "pass init") {
		t.Errorf("Open of an uninitialised store = %v (hint %q)", err, hint.Of(err))
	}
}

func envValueKV(env []string, name string) string { return name + "=" + envValue(env, name) }

func TestPassSecretNotOnCommandLine(t *testing.T) {
	t.Parallel()
	// The secret goes to pass on stdin: the arguments of set never hold it.
	env, _ := newPassEnv(t, "")
	s, _ := openSpec(t, childSpec{Backend: Pass, Home: t.TempDir(), Service: "azkeep", Env: env})
	secret := []byte("rt-" + randHex(8))
	mustSet(t, s, "a/refresh-token", secret)
	pb := s.(*store).b.(*passBackend)
	// The entry file holds ciphertext only.
	b, err := os.ReadFile(pb.file("a/refresh-token"))
	if err != nil || bytes.Contains(b, secret) {
		t.Errorf("pass entry file: %v, or holds the secret in clear", err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("nope", Options{Home: t.TempDir()}); err == nil || hint.Of(err) == "" {
		t.Errorf("unknown backend: %v", err)
	}
	if _, err := Open(File, Options{}); err == nil || !strings.Contains(hint.Of(err), "AZKEEP_HOME") {
		t.Errorf("no home: %v", err)
	}
	other := map[string]string{"linux": Keychain, "darwin": Wincred, "windows": Keychain}[runtime.GOOS]
	if other != "" {
		if _, err := Open(other, Options{Home: t.TempDir()}); !errors.Is(err, ErrUnavailable) {
			t.Errorf("Open(%s) on %s = %v, want ErrUnavailable", other, runtime.GOOS, err)
		}
	}
	if Default() == "" {
		t.Error("no default backend")
	}
}

// The identity file, damaged or gone: every read is an error that names it,
// and nothing is rewritten (a new identity would orphan every item file).
func TestFileIdentityDamaged(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	s, spec := openSpec(t, childSpec{Backend: File, Home: home, Pass: testPass})
	mustSet(t, s, "contoso/refresh-token", []byte("rt-secret"))
	idPath := filepath.Join(storeDir(spec), "identity.age")
	orig, err := os.ReadFile(idPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func(){
		"corrupted": func() { b := append([]byte(nil), orig...); b[len(b)-10] ^= 1; os.WriteFile(idPath, b, 0o600) },
		"missing":   func() { os.Remove(idPath) },
	} {
		damage()
		before := snapshot(t, home)
		s2, _ := spec.open()
		ctx := context.Background()
		if _, err := s2.Get(ctx, "contoso/refresh-token"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "identity.age") {
			t.Errorf("%s identity: Get = %v, want ErrCorrupt naming identity.age", name, err)
		}
		if err := s2.Set(ctx, "contoso/refresh-token", []byte("x")); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s identity: Set = %v, want ErrCorrupt", name, err)
		}
		if err := s2.Set(ctx, "fabrikam/refresh-token", []byte("x")); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s identity: Set of a new integration = %v, want ErrCorrupt", name, err)
		}
		sameFiles(t, before, snapshot(t, home))
		os.WriteFile(idPath, orig, 0o600)
	}
	if got := mustGet(t, s, "contoso/refresh-token"); string(got) != "rt-secret" {
		t.Errorf("after restoring the identity: %q", got)
	}
}

// A user typing the passphrase slower than the call bound is not a hung
// backend: the prompt happens before the bound starts.
func TestFileSlowPassphrasePrompt(t *testing.T) {
	t.Parallel()
	prompts := 0
	slow := func() ([]byte, error) {
		prompts++
		time.Sleep(1500 * time.Millisecond)
		return []byte(testPass), nil
	}
	home := t.TempDir()
	s, err := Open(File, Options{Home: home, Passphrase: slow, Timeout: time.Second, ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "a/refresh-token", []byte("rt"))
	s2, _ := Open(File, Options{Home: home, Passphrase: slow, Timeout: time.Second, ScryptWorkFactor: 10})
	if got := mustGet(t, s2, "a/refresh-token"); string(got) != "rt" {
		t.Errorf("got %q", got)
	}
	mustGet(t, s2, "a/refresh-token")
	if prompts != 2 {
		t.Errorf("asked %d times, want once per store", prompts)
	}
}

// PromptPassphrase takes $AZKEEP_VAULT_PASSPHRASE first, and asks only on a
// terminal: a pipe (or no file at all) gets the fix instead of a prompt.
func TestPromptPassphraseWithoutATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	t.Setenv(PassphraseEnv, "from-env")
	var out strings.Builder
	if p, err := PromptPassphrase(r, &out, "passphrase: ")(); err != nil || string(p) != "from-env" {
		t.Fatalf("with the env var: %q, %v", p, err)
	}
	t.Setenv(PassphraseEnv, "")
	for _, tty := range []*os.File{r, nil} {
		p, err := PromptPassphrase(tty, &out, "passphrase: ")()
		if err == nil || p != nil || !strings.Contains(hint.Of(err), PassphraseEnv) {
			t.Errorf("tty %v: %q, %v (hint %q)", tty, p, err, hint.Of(err))
		}
	}
	if out.Len() != 0 {
		t.Errorf("prompted without a terminal: %q", out.String())
	}
}

// TimeoutFromEnv is the one parser of $AZKEEP_VAULT_TIMEOUT; Open refuses a
// bad value instead of silently taking the default.
func TestTimeoutFromEnv(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 0, "90s": 90 * time.Second} {
		t.Setenv(TimeoutEnv, v)
		if d, err := TimeoutFromEnv(); err != nil || d != want {
			t.Errorf("%q: %v, %v", v, d, err)
		}
	}
	for _, v := range []string{"x", "0", "-1s"} {
		t.Setenv(TimeoutEnv, v)
		if _, err := TimeoutFromEnv(); err == nil || hint.Of(err) == "" {
			t.Errorf("%q accepted: %v", v, err)
		}
		if _, err := Open(File, Options{Home: t.TempDir()}); err == nil {
			t.Errorf("Open with %s=%q succeeded", TimeoutEnv, v)
		}
	}
	t.Setenv(TimeoutEnv, "x")
	if _, err := Open(File, Options{Home: t.TempDir(), Timeout: time.Second}); err != nil {
		t.Errorf("an explicit Timeout still reads the env: %v", err)
	}
}

// Regression: a damaged index.json (azkeep's own, non-secret bookkeeping)
// made every Set fail, after the token endpoint had rotated the refresh
// token, which then fell back into a file. Writes rebuild the index: the
// damaged one is kept aside, a warning says so, and the value is stored.
func TestDamagedIndexIsRebuiltOnWrite(t *testing.T) {
	home := t.TempDir()
	t.Setenv(PassphraseEnv, "pw")
	var warn strings.Builder
	s, err := Open(File, Options{Home: home, ScryptWorkFactor: 10, Warn: &warn})
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "contoso/account", []byte("acct"))
	idx := filepath.Join(home, "vault", File, "index.json")
	if err := os.WriteFile(idx, []byte("{\"version\": 1, \"items\": {"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Set(ctx, "contoso/refresh-token", []byte("rt")); err != nil {
		t.Fatalf("Set with a damaged index: %v", err)
	}
	if got, err := s.Get(ctx, "contoso/refresh-token"); err != nil || string(got) != "rt" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	items, err := s.List(ctx)
	if err != nil || len(items) != 1 || items[0].Key != "contoso/refresh-token" {
		t.Fatalf("List after the rebuild = %v, %v", items, err)
	}
	if _, err := os.Stat(idx + ".damaged"); err != nil {
		t.Errorf("the damaged index was not kept aside: %v", err)
	}
	if !strings.Contains(warn.String(), "index") || !strings.Contains(warn.String(), "rebuil") {
		t.Errorf("no warning about the rebuilt index: %q", warn.String())
	}
	if err := s.Delete(ctx, "contoso/account"); err != nil {
		t.Errorf("Delete after the rebuild: %v", err)
	}
}

// Regression: AZKEEP_VAULT_TIMEOUT=1ns was reported as "another azkeep
// process holds …/lock" when nobody held it: a free lock is taken at once,
// and the error is the bound's.
func TestTinyTimeoutIsNotALockHolder(t *testing.T) {
	// The abandoned backend call may still be writing when the test ends:
	// its home is removed once that write is done, not by t.TempDir.
	home, err := os.MkdirTemp("", "azkeep-tiny-timeout-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 50 && os.RemoveAll(home) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Setenv(PassphraseEnv, "pw")
	s, err := Open(File, Options{Home: home, ScryptWorkFactor: 10, Timeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Set(context.Background(), "contoso/refresh-token", []byte("rt"))
	if err == nil || strings.Contains(err.Error(), "another azkeep process holds") || !errors.Is(err, ErrTimeout) {
		t.Fatalf("Set with a 1ns bound = %v, want the bound's timeout", err)
	}
}
