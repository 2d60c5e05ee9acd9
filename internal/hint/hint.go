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
