//go:build linux

package vault

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dbus "github.com/godbus/dbus/v5"
)

// privateKeyring starts a D-Bus session bus and an unlocked gnome-keyring of
// its own, for tests that change the keyring's state (locking it) and so
// must not share the one scripts/test.sh provides. It returns the bus
// address and a connection to it.
func privateKeyring(t *testing.T) (string, *dbus.Conn) {
	t.Helper()
	need(t, haveTools("dbus-daemon", "gnome-keyring-daemon"), "dbus-daemon and gnome-keyring-daemon")
	out, err := exec.Command("dbus-daemon", "--session", "--fork", "--print-address=1", "--print-pid=1").Output()
	if err != nil {
		t.Fatalf("dbus-daemon: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Scan()
	addr := strings.TrimSpace(sc.Text())
	sc.Scan()
	busPid, _ := strconv.Atoi(strings.TrimSpace(sc.Text()))
	if addr == "" || busPid == 0 {
		t.Fatalf("dbus-daemon printed %q", out)
	}
	t.Cleanup(func() { syscall.Kill(busPid, syscall.SIGTERM) })

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	os.MkdirAll(filepath.Join(dir, "run"), 0o700)
	kr := exec.Command("gnome-keyring-daemon", "--unlock", "--components=secrets", "--daemonize")
	kr.Env = mergeEnv(os.Environ(), []string{"DBUS_SESSION_BUS_ADDRESS=" + addr,
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"), "XDG_RUNTIME_DIR=" + filepath.Join(dir, "run")})
	kr.Stdin = strings.NewReader("test-password")
	if out, err := kr.CombinedOutput(); err != nil {
		t.Fatalf("gnome-keyring-daemon: %v\n%s", err, out)
	}
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connect to the private bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	var owned bool
	for i := 0; i < 100 && !owned; i++ {
		conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.secrets").Store(&owned)
		if !owned {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !owned {
		t.Fatal("gnome-keyring did not come up on the private bus")
	}
	var krPid uint32
	if err := conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, "org.freedesktop.secrets").Store(&krPid); err == nil {
		t.Cleanup(func() { syscall.Kill(int(krPid), syscall.SIGTERM) })
	}
	return addr, conn
}

// lockLogin locks the login collection through the Secret Service API.
func lockLogin(t *testing.T, conn *dbus.Conn) {
	t.Helper()
	var locked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	err := conn.Object("org.freedesktop.secrets", "/org/freedesktop/secrets").
		Call("org.freedesktop.Secret.Service.Lock", 0, []dbus.ObjectPath{"/org/freedesktop/secrets/collection/login"}).
		Store(&locked, &prompt)
	if err != nil || len(locked) != 1 {
		t.Fatalf("lock the login collection: %v (locked %v)", err, locked)
	}
}

// A locked collection with nobody to answer the unlock prompt (headless: the
// prompter cannot start) fails fast with an error that names the backend.
func TestLockedCollection(t *testing.T) {
	t.Parallel()
	addr, conn := privateKeyring(t)
	home := t.TempDir()
	spec := childSpec{Backend: SecretService, Home: home, Service: "azkeep-test", Timeout: "3s"}
	env := "DBUS_SESSION_BUS_ADDRESS=" + addr
	// It works while unlocked.
	if r := probe(t, spec, env); !r.NotFound {
		t.Fatalf("unlocked keyring: probe = %+v, want not found", r)
	}
	lockLogin(t, conn)
	r := probe(t, spec, env)
	if !(r.Locked || r.Timeout) || !strings.Contains(r.Err, "secret-service") || r.Hint == "" {
		t.Errorf("locked keyring: %+v, want ErrLocked or ErrTimeout naming secret-service, with a hint", r)
	}
	t.Logf("locked, no prompter: %s after %s", r.Err, r.Elapsed)
}

// nullPrompter is a gcr system prompter that accepts every prompt and never
// answers: the unlock prompt gnome-keyring shows waits forever, as it does
// for a user who walked away from the desktop.
type nullPrompter struct{}

func (nullPrompter) BeginPrompting(dbus.ObjectPath) *dbus.Error { return nil }
func (nullPrompter) PerformPrompt(dbus.ObjectPath, string, map[string]dbus.Variant, string) *dbus.Error {
	return nil
}
func (nullPrompter) StopPrompting(dbus.ObjectPath) *dbus.Error { return nil }

// With a prompter that never answers, go-keyring would wait forever; the
// call returns ErrTimeout after the bound and the process exits normally.
func TestLockedCollectionPromptNeverAnswered(t *testing.T) {
	t.Parallel()
	addr, conn := privateKeyring(t)
	if err := conn.Export(nullPrompter{}, "/org/gnome/keyring/Prompter", "org.gnome.keyring.internal.Prompter"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.gnome.keyring.SystemPrompter", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("register the prompter: %v (%v)", err, reply)
	}
	lockLogin(t, conn)
	bound := time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan probeResult, 1)
	go func() {
		done <- probe(t, childSpec{Backend: SecretService, Home: t.TempDir(), Service: "azkeep-test", Timeout: bound.String()},
			"DBUS_SESSION_BUS_ADDRESS="+addr)
	}()
	select {
	case r := <-done:
		if !r.Timeout || !strings.Contains(r.Err, "secret-service") || !strings.Contains(r.Hint, "unlock") {
			t.Errorf("prompt never answered: %+v, want ErrTimeout naming secret-service with an unlock hint", r)
		}
		if d, _ := time.ParseDuration(r.Elapsed); d < bound {
			t.Errorf("returned after %s, before the bound: the prompt path was not exercised (%s)", d, r.Err)
		}
		t.Logf("prompt never answered: %s after %s", r.Err, r.Elapsed)
	case <-ctx.Done():
		t.Fatal("the call hung past the bound")
	}
}
