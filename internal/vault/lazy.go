package vault

import (
	"context"
	"sync"
)

// lazyStore opens its backend on the first call that needs it.
type lazyStore struct {
	name string
	open func() (Store, error)
	once sync.Once
	s    Store
	err  error
}

// OpenLazily returns a Store that calls Open(name, opts) on its first Get,
// Set, Delete or List and keeps the result, error included, for every later
// call. A command that may never touch the vault (every azkeep command
// rotates lazily first, and usually nothing is due) then never prompts for
// a passphrase, checks a GPG key or needs a D-Bus session.
func OpenLazily(name string, opts Options) Store {
	return &lazyStore{name: Resolve(name, opts.Home), open: func() (Store, error) { return Open(name, opts) }}
}

func (l *lazyStore) store() (Store, error) {
	l.once.Do(func() { l.s, l.err = l.open() })
	return l.s, l.err
}

// Name is the backend's name, known before it is opened.
func (l *lazyStore) Name() string { return l.name }

func (l *lazyStore) Get(ctx context.Context, key string) ([]byte, error) {
	s, err := l.store()
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, key)
}

func (l *lazyStore) Set(ctx context.Context, key string, data []byte) error {
	s, err := l.store()
	if err != nil {
		return err
	}
	return s.Set(ctx, key, data)
}

func (l *lazyStore) Delete(ctx context.Context, key string) error {
	s, err := l.store()
	if err != nil {
		return err
	}
	return s.Delete(ctx, key)
}

func (l *lazyStore) List(ctx context.Context) ([]Item, error) {
	s, err := l.store()
	if err != nil {
		return nil, err
	}
	return s.List(ctx)
}
