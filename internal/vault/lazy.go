package vault

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// lazyStore opens its backend on the first call that needs it.
type lazyStore struct {
	name atomic.Pointer[string]
	open func(context.Context) (Store, error)
	once sync.Once
	s    Store
	err  error
}

// OpenLazily returns a Store that calls Open(name, opts) on its first Get,
// Set, Delete or List and keeps the result, error included, for every later
// call. A command that may never touch the vault (every azkeep command
// rotates lazily first, and usually nothing is due) then never prompts for
// a passphrase, checks a GPG key or needs a D-Bus session.
//
// When nothing chose the backend (name and the recorded selection are
// empty) and opts.OfferFile is set, the OS vault is checked on that first
// call, and one that cannot be reached at all is offered to be replaced by
// the file vault (see Options.OfferFile).
func OpenLazily(name string, opts Options) Store {
	l := &lazyStore{}
	resolved := Resolve(name, opts.Home)
	l.name.Store(&resolved)
	l.open = func(ctx context.Context) (Store, error) {
		s, err := Open(name, opts)
		if name != "" || Selected(opts.Home) != "" || opts.OfferFile == nil {
			return s, err
		}
		if err == nil {
			err = Check(ctx, s)
		}
		if !errors.Is(err, ErrUnavailable) || !opts.OfferFile(err) {
			return s, err
		}
		if err := Select(opts.Home, File); err != nil {
			return nil, err
		}
		file := File
		l.name.Store(&file)
		return Open(File, opts)
	}
	return l
}

func (l *lazyStore) store(ctx context.Context) (Store, error) {
	l.once.Do(func() { l.s, l.err = l.open(ctx) })
	return l.s, l.err
}

// Name is the backend's name, known before it is opened (the file vault's
// once the user took it instead of an unreachable OS vault).
func (l *lazyStore) Name() string { return *l.name.Load() }

func (l *lazyStore) Get(ctx context.Context, key string) ([]byte, error) {
	s, err := l.store(ctx)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, key)
}

func (l *lazyStore) Set(ctx context.Context, key string, data []byte) error {
	s, err := l.store(ctx)
	if err != nil {
		return err
	}
	return s.Set(ctx, key, data)
}

func (l *lazyStore) Delete(ctx context.Context, key string) error {
	s, err := l.store(ctx)
	if err != nil {
		return err
	}
	return s.Delete(ctx, key)
}

func (l *lazyStore) List(ctx context.Context) ([]Item, error) {
	s, err := l.store(ctx)
	if err != nil {
		return nil, err
	}
	return s.List(ctx)
}
