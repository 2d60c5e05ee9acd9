package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/vault"
)

type loginFunc func(context.Context, lifecycle.LoginRequest) error

func (fn loginFunc) Login(ctx context.Context, req lifecycle.LoginRequest) error { return fn(ctx, req) }

// noSecretService makes the OS vault unreachable as it is over SSH, in WSL
// or a container: no D-Bus session.
func noSecretService(t *testing.T) {
	t.Helper()
	if vault.Default() != vault.SecretService {
		t.Skip("the OS vault here is " + vault.Default())
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("AZKEEP_VAULT", "")
	if runtime.GOOS == "linux" {
		if _, err := os.Stat(fmt.Sprintf("/run/user/%d/bus", os.Getuid())); err == nil {
			t.Skip("a session bus is reachable through /run/user")
		}
	}
}

// firstRun runs `integration login` on a fresh home with the real vault
// selection, a login that only counts, and stdin answering.
func firstRun(t *testing.T, home string, interactive bool, stdin string) (stderr string, code, logins int) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "azure")
	var out, errb bytes.Buffer
	f := NewFactory(IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	f.Interactive = func() bool { return interactive }
	f.Login = func() lifecycle.Runner {
		return loginFunc(func(context.Context, lifecycle.LoginRequest) error {
			logins++
			return errors.New("signed in nowhere")
		})
	}
	args := []string{"--home", home, "--config-dir", cfg}
	if _, err := os.Stat(filepath.Join(home, "state.json")); err != nil {
		if c := Run(f, append(args, "integration", "create", "--alias", "contoso", "--tenant", "contoso.onmicrosoft.com")); c != 0 {
			t.Fatalf("create: %d %s", c, errb.String())
		}
	}
	errb.Reset()
	code = Run(f, append(args, "integration", "login", "contoso", "--device-code"))
	return errb.String(), code, logins
}

// Regression: without a Secret Service the first login let the user sign
// in and only then failed to keep the refresh token.
func TestFirstLoginWithoutOSVault(t *testing.T) {
	noSecretService(t)
	t.Setenv(vault.PassphraseEnv, "first-run")

	// No terminal: it fails at once, before any sign-in, with the fix.
	home := filepath.Join(t.TempDir(), "home")
	e, code, logins := firstRun(t, home, false, "")
	if code != 1 || logins != 0 || !strings.Contains(e, "no D-Bus session") || !strings.Contains(e, "hint: ") || !strings.Contains(e, "--vault file") {
		t.Fatalf("no terminal: exit %d, %d logins, %q", code, logins, e)
	}
	if vault.Selected(home) != "" {
		t.Fatal("a backend was chosen without asking")
	}

	// A terminal: the file vault is offered; yes is remembered.
	e, _, logins = firstRun(t, home, true, "y\n")
	if logins != 1 || !strings.Contains(e, "keep azkeep's secrets in the file vault instead") || vault.Selected(home) != vault.File {
		t.Fatalf("offer: %d logins, selected %q, %q", logins, vault.Selected(home), e)
	}
	e, _, logins = firstRun(t, home, true, "")
	if logins != 1 || strings.Contains(e, "file vault instead") {
		t.Fatalf("asked again: %d logins, %q", logins, e)
	}

	// Declined: nothing is recorded and nobody signs in.
	other := filepath.Join(t.TempDir(), "home")
	e, code, logins = firstRun(t, other, true, "n\n")
	if code != 1 || logins != 0 || vault.Selected(other) != "" {
		t.Fatalf("declined: exit %d, %d logins, %q", code, logins, e)
	}
}
