package vault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/azkeep/azkeep/internal/hint"
)

// Errors a caller can test with errors.Is. Every error a backend returns
// also names the backend and carries a hint (see hint.Of) with the fix.
var (
	// ErrTimeout: the backend did not answer within Options.Timeout (a
	// locked collection waiting for an unlock prompt, a bus that never
	// answers, a gpg-agent waiting for a pinentry).
	ErrTimeout = errors.New("vault: the backend did not answer in time")
	// ErrUnavailable: the backend cannot be reached at all (no D-Bus
	// session, no Secret Service, pass not installed, wrong OS).
	ErrUnavailable = errors.New("vault: backend unavailable")
	// ErrLocked: the OS vault is locked and could not be unlocked.
	ErrLocked = errors.New("vault: locked")
	// ErrWrongPassphrase: the file backend's passphrase does not open it.
	ErrWrongPassphrase = errors.New("vault: wrong passphrase")
	// ErrCorrupt: a stored item or sealed file cannot be decoded. azkeep
	// leaves it untouched.
	ErrCorrupt = errors.New("vault: corrupted item")
	// ErrInvalidKey: the key is empty, too long or not a clean path.
	ErrInvalidKey = errors.New("vault: invalid key")
)

// kindError is an error of a known kind (one of the sentinels above) whose
// message is the detail alone: "secret-service vault: get "x": no D-Bus
// session…", not "…: vault: backend unavailable: no D-Bus session…".
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// mark returns an error that errors.Is kind, with the formatted detail as
// its message.
func mark(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// DefaultTimeout bounds every backend call when Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// bounded runs fn and waits for it at most d (or until ctx is done). fn gets a
// context with that deadline; backends that run a process kill it then. A
// D-Bus call cannot be cancelled: its goroutine is abandoned and finishes, or
// not, on its own; the caller gets ErrTimeout either way.
func bounded[T any](ctx context.Context, d time.Duration, fn func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn(ctx)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return zero, mark(ErrTimeout, "no answer within %s", d)
		}
		return zero, ctx.Err()
	}
}

// backendError names the backend and the operation, and attaches the fix for
// the well-known failure kinds unless a more precise hint is already there.
func backendError(backend, op, key string, err error) error {
	if err == nil {
		return nil
	}
	var wrapped error
	switch {
	case key != "":
		wrapped = fmt.Errorf("%s vault: %s %q: %w", backend, op, key, err)
	case op == "open":
		wrapped = fmt.Errorf("%s vault: %w", backend, err)
	default:
		wrapped = fmt.Errorf("%s vault: %s: %w", backend, op, err)
	}
	if hint.Of(err) != "" {
		// Keep the precise hint, but put the backend's name on the message.
		return hint.New(wrapped, hint.Of(err))
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return wrapped
	case errors.Is(err, ErrTimeout):
		return hint.New(wrapped, timeoutFix(backend))
	case errors.Is(err, ErrLocked):
		return hint.New(wrapped, lockedFix(backend))
	case errors.Is(err, ErrInvalidKey):
		return hint.New(wrapped, "vault keys are <integration-id>/<item>: non-empty segments, no '.' or '..', no control characters, at most 200 bytes")
	}
	return wrapped
}

func timeoutFix(backend string) string {
	switch backend {
	case "secret-service":
		return "unlock the login keyring (log in to the desktop, or run gnome-keyring-daemon --unlock), raise --vault-timeout, or use --vault pass or --vault file"
	case "keychain":
		return "unlock the login keychain (security unlock-keychain) and answer any Keychain prompt, or use --vault file"
	case "pass":
		return "make sure gpg-agent can decrypt without a prompt (gpg --decrypt on a pass entry), or use --vault file"
	}
	return "retry; if it keeps happening use another backend with --vault"
}

func lockedFix(backend string) string {
	switch backend {
	case "secret-service":
		return "unlock the login keyring (log in to the desktop session, or run gnome-keyring-daemon --unlock), then retry"
	case "keychain":
		return "unlock the login keychain (security unlock-keychain), then retry"
	}
	return "unlock the vault, then retry"
}
