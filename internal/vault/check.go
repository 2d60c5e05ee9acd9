package vault

import (
	"context"
	"errors"
)

// probeKey names an item azkeep never stores: asking a backend for it
// tells whether the backend answers, without reading any secret.
const probeKey = "azkeep-status/probe"

// checker is a Store that can check itself without writing anything (the
// cross-process lock of a Get creates the backend's dir).
type checker interface {
	check(ctx context.Context) error
}

// Check tells whether s can take a login's secrets now, before the user
// is asked to sign in: the backend answers within its bound, and a backend
// that asks the user something (the file vault's passphrase) has asked.
// It writes nothing. A sign-in whose refresh token then finds no vault to
// go into is a sign-in wasted.
func Check(ctx context.Context, s Store) error {
	if c, ok := s.(checker); ok {
		return c.check(ctx)
	}
	if _, err := s.Get(ctx, probeKey); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

func (s *store) check(ctx context.Context) error {
	if err := s.prepare("set", probeKey); err != nil {
		return backendError(s.name, "check", "", err)
	}
	_, err := bounded(ctx, s.timeout, func(ctx context.Context) ([]byte, error) { return s.b.get(ctx, probeKey) })
	if err != nil && !errors.Is(err, ErrNotFound) {
		return backendError(s.name, "check", "", err)
	}
	return nil
}

func (l *lazyStore) check(ctx context.Context) error {
	s, err := l.store(ctx)
	if err != nil {
		return err
	}
	return Check(ctx, s)
}
