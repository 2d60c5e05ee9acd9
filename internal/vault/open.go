package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/hint"
)

// Options configure a backend.
type Options struct {
	// Home is azkeep's state dir; the index, the file backend and sealed
	// large secrets live below it, in <Home>/vault/<backend>/.
	Home string
	// Passphrase returns the file backend's passphrase (a prompt). When nil,
	// the file backend reads $AZKEEP_VAULT_PASSPHRASE. It is called at most
	// once per Store, on first use.
	Passphrase func() ([]byte, error)
	// Timeout bounds every backend call (0: $AZKEEP_VAULT_TIMEOUT if set,
	// else DefaultTimeout; Open fails on a value TimeoutFromEnv refuses).
	Timeout time.Duration
	// Service names azkeep's items in the OS vaults and its folder in pass
	// (default "azkeep"). Tests use a throwaway one.
	Service string
	// Env is extra NAME=value environment for the pass and gpg commands
	// (PASSWORD_STORE_DIR, GNUPGHOME), on top of the process environment.
	Env []string
	// ScryptWorkFactor is the file backend's scrypt cost for new files
	// (0: DefaultScryptWorkFactor). Tests lower it.
	ScryptWorkFactor int
	// UnlockTTL is how long the file backend's unlocked identity stays in
	// the kernel keyring for the login session's next commands (0: not
	// kept; the CLI sets UnlockTTLFromEnv).
	UnlockTTL time.Duration
	// OfferFile, when set, is asked once by a store from OpenLazily when
	// the OS vault, used because nothing else was chosen, cannot be
	// reached at all (no D-Bus session over SSH, in WSL or a container):
	// true switches to the file backend and records that choice for Home
	// (Select), so later commands use it without asking. The CLI sets it
	// on a terminal only.
	OfferFile func(cause error) bool

	// Warn receives warnings (a damaged index rebuilt); nil drops them.
	Warn io.Writer
}

// Backend names accepted by Open.
const (
	SecretService = "secret-service"
	Keychain      = "keychain"
	Wincred       = "wincred"
	Pass          = "pass"
	File          = "file"
)

// Backends lists the names Open accepts, in the order the docs give them.
func Backends() []string {
	return []string{SecretService, Keychain, Wincred, Pass, File}
}

// Default is the OS vault's backend name: the Secret Service on Linux and
// the BSDs, the Keychain on macOS, the Credential Manager on Windows.
func Default() string {
	switch runtime.GOOS {
	case "darwin":
		return Keychain
	case "windows":
		return Wincred
	}
	return SecretService
}

const defaultService = "azkeep"

// Open returns the backend called name. "" picks the backend the last
// `azkeep vault migrate` recorded under opts.Home, else Default(). Open does
// not contact the OS vault yet, except for pass, whose GPG key is checked at
// once; a missing D-Bus session is reported here, at once.
func Open(name string, opts Options) (Store, error) {
	name = Resolve(name, opts.Home)
	service := opts.Service
	if service == "" {
		service = defaultService
	}
	if err := checkKey(service); err != nil || strings.Contains(service, "/") {
		return nil, hint.New(fmt.Errorf("vault: invalid service name %q", service), "use a plain name such as azkeep")
	}
	if !isBackend(name) {
		return nil, hint.New(fmt.Errorf("unknown vault backend %q", name), "use --vault secret-service, keychain, wincred, pass or file")
	}
	if opts.Home == "" {
		return nil, hint.New(fmt.Errorf("%s vault: no azkeep home directory given", name), "set AZKEEP_HOME or pass --home")
	}
	dir := filepath.Join(opts.Home, "vault", name)
	if service != defaultService {
		dir = filepath.Join(opts.Home, "vault", name+"-"+service)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		d, err := TimeoutFromEnv()
		if err != nil {
			return nil, err
		}
		timeout = d
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	switch name {
	case SecretService:
		if !sessionBusAvailable() {
			return nil, backendError(name, "open", "", errNoSession)
		}
		kv := &secretServiceKV{service: service}
		return newStore(name, opts.Warn, &keyringBackend{name: name, kv: kv, limit: int(^uint(0) >> 1), dir: dir}, dir, timeout), nil
	case Keychain, Wincred:
		want := map[string]string{Keychain: "darwin", Wincred: "windows"}[name]
		if runtime.GOOS != want {
			return nil, hint.New(fmt.Errorf("%s vault: %w: only available on %s", name, ErrUnavailable, map[string]string{"darwin": "macOS", "windows": "Windows"}[want]),
				"use --vault "+Default()+" here, or pass or file")
		}
		limit := keychainLimit
		if name == Wincred {
			limit = wincredLimit
		}
		kv := &goKeyringKV{backend: name, service: service}
		return newStore(name, opts.Warn, &keyringBackend{name: name, kv: kv, limit: limit, dir: dir}, dir, timeout), nil
	case Pass:
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		p, err := openPass(ctx, opts, service)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				err = ErrTimeout
			}
			return nil, backendError(name, "open", "", err)
		}
		return newStore(name, opts.Warn, p, dir, timeout), nil
	case File:
		pf := opts.Passphrase
		if pf == nil {
			pf = passphraseFromEnv
		}
		wf := opts.ScryptWorkFactor
		if wf <= 0 {
			wf = DefaultScryptWorkFactor
		}
		fb := &fileBackend{dir: filepath.Join(dir, "items"), idPath: filepath.Join(dir, "identity.age"), passphrase: pf, workFactor: wf, unlockTTL: opts.UnlockTTL}
		return newStore(name, opts.Warn, fb, dir, timeout), nil
	}
	return nil, hint.New(fmt.Errorf("unknown vault backend %q", name), "use --vault secret-service, keychain, wincred, pass or file")
}

func isBackend(name string) bool {
	for _, b := range Backends() {
		if b == name {
			return true
		}
	}
	return false
}

func passphraseFromEnv() ([]byte, error) {
	if p := os.Getenv(PassphraseEnv); p != "" {
		return []byte(p), nil
	}
	return nil, hint.New(errors.New("the file vault needs a passphrase and none was given"),
		"set "+PassphraseEnv+", or run azkeep in a terminal to be asked for it")
}

// TimeoutEnv overrides DefaultTimeout for stores opened with Timeout 0.
const TimeoutEnv = "AZKEEP_VAULT_TIMEOUT"

// TimeoutFromEnv reads $AZKEEP_VAULT_TIMEOUT: 0 when it is unset or empty,
// an error with the fix when it is not a positive Go duration.
func TimeoutFromEnv() (time.Duration, error) {
	s := os.Getenv(TimeoutEnv)
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, hint.New(fmt.Errorf("%s=%q is not a duration", TimeoutEnv, s), "use a Go duration such as 5s or 1m")
	}
	return d, nil
}
