package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"
)

// inCI reports whether the real components must be there (CI=true).
func inCI() bool { return os.Getenv("CI") == "true" }

// need skips the test locally, or fails it in CI, when a real component is
// missing.
func need(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if inCI() {
		t.Fatalf("%s is required in CI (CI=true); scripts/test.sh provides it", what)
	}
	t.Skipf("%s not available; run the tests through scripts/test.sh", what)
}

// haveSecretService reports whether the test process may use a real Secret
// Service: only inside scripts/test.sh's private D-Bus session
// (AZKEEP_TEST_INNER=1) with org.freedesktop.secrets owned on it, so that a
// developer's own desktop keyring is never written to.
func haveSecretService(t *testing.T) bool {
	t.Helper()
	if os.Getenv("AZKEEP_TEST_INNER") != "1" || os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		return false
	}
	conn, err := dbus.Connect(os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
	if err != nil {
		return false
	}
	defer conn.Close()
	var owned bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.secrets").Store(&owned)
	return err == nil && owned
}

// haveTools reports whether every named command is on PATH.
func haveTools(names ...string) bool {
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			return false
		}
	}
	return true
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// newPassEnv makes a throwaway GPG home with a passphrase-less key and a pass
// store initialised to it; it returns the env for Options.Env and the key.
// The GPG home is short (/tmp/g…): gpg-agent's socket path has a length limit.
func newPassEnv(t *testing.T, initWith string) (env []string, fpr string) {
	t.Helper()
	need(t, haveTools("pass", "gpg", "gpgconf"), "pass and gpg")
	gh, err := os.MkdirTemp("", "g")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(gh, 0o700)
	store := filepath.Join(t.TempDir(), "store")
	env = []string{"GNUPGHOME=" + gh, "PASSWORD_STORE_DIR=" + store}
	t.Cleanup(func() {
		c := exec.Command("gpgconf", "--kill", "gpg-agent")
		c.Env = mergeEnv(os.Environ(), env)
		c.Run()
		os.RemoveAll(gh)
	})
	run := func(stdin string, name string, args ...string) string {
		t.Helper()
		c := exec.Command(name, args...)
		c.Env = mergeEnv(os.Environ(), env)
		c.Stdin = strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	run(`%no-protection
Key-Type: eddsa
Key-Curve: ed25519
Subkey-Type: ecdh
Subkey-Curve: cv25519
Name-Real: azkeep vault test
Name-Email: vault@azkeep.invalid
Expire-Date: 0
%commit
`, "gpg", "--batch", "--quiet", "--gen-key")
	for _, line := range strings.Split(run("", "gpg", "--batch", "--with-colons", "--list-secret-keys"), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			fpr = f[9]
			break
		}
	}
	if initWith == "" {
		initWith = fpr
	}
	run("", "pass", "init", initWith)
	return env, fpr
}

// childSpec tells a re-executed test binary which store to open.
type childSpec struct {
	Mode    string   `json:"mode"`
	Backend string   `json:"backend"`
	Home    string   `json:"home"`
	Service string   `json:"service"`
	Env     []string `json:"env"`
	Pass    string   `json:"pass"`
	Limit   int      `json:"limit"`
	Timeout string   `json:"timeout"`
	ID      int      `json:"id"`
	To      *childSpec
	KillAt  int `json:"kill_at"`
}

func (c childSpec) options() Options {
	o := Options{Home: c.Home, Service: c.Service, Env: c.Env, ScryptWorkFactor: 10}
	if c.Pass != "" {
		p := c.Pass
		o.Passphrase = func() ([]byte, error) { return []byte(p), nil }
	}
	if c.Timeout != "" {
		o.Timeout, _ = time.ParseDuration(c.Timeout)
	}
	return o
}

func (c childSpec) open() (Store, error) {
	if c.Backend == "fake-keyring" {
		return openFakeKeyring(c), nil
	}
	s, err := Open(c.Backend, c.options())
	if err != nil {
		return nil, err
	}
	if c.Limit > 0 {
		s.(*store).b.(*keyringBackend).limit = c.Limit
	}
	return s, nil
}

const childEnv = "AZKEEP_VAULT_TEST_CHILD"

// runChild re-executes the test binary in child mode and returns its
// combined output and error.
func runChild(t *testing.T, spec childSpec, env ...string) (string, error) {
	t.Helper()
	b, _ := json.Marshal(spec)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), childEnv+"="+string(b))
	c.Env = mergeEnv(c.Env, env)
	out, err := c.CombinedOutput()
	return string(out), err
}

func TestMain(m *testing.M) {
	if s := os.Getenv(childEnv); s != "" {
		var spec childSpec
		if err := json.Unmarshal([]byte(s), &spec); err != nil {
			fmt.Fprintln(os.Stderr, "bad child spec:", err)
			os.Exit(3)
		}
		os.Exit(childMain(spec))
	}
	os.Exit(m.Run())
}
