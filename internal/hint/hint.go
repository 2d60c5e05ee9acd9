// Package hint carries the one-line fix that azkeep prints under an error.
//
// Every error a user can act on is wrapped once, where the fix is known:
//
//	return hint.New(err, "run azkeep integration login contoso")
//
// The CLI's error funnel prints it as
//
//	azkeep: error: <err>
//	azkeep: hint: <fix>
package hint

import "errors"

// Error is an error with a suggested fix.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// New wraps err with a hint. A nil err stays nil.
func New(err error, fix string) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Hint: fix}
}

// Of returns the outermost hint in err's chain, or "".
func Of(err error) string {
	var h *Error
	if errors.As(err, &h) {
		return h.Hint
	}
	return ""
}

// ExitError asks the CLI to exit with Code without printing anything:
// azkeep exec uses it to pass a child's exit status through.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return "exit status " + itoa(e.Code) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
