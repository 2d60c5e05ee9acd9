package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
)

// backend is what each real backend implements: plain get/set/delete of a
// checked key. The shared store around it adds what every backend needs the
// same way: key checks, the time bound, one cross-process lock, the
// non-secret index that List reads, and error messages that name the backend.
type backend interface {
	// get returns the value or an error wrapping ErrNotFound.
	get(ctx context.Context, key string) ([]byte, error)
	// set stores data under key, replacing any previous value.
	set(ctx context.Context, key string, data []byte) error
	// del removes key; a missing key is not an error.
	del(ctx context.Context, key string) error
}

// preparer is implemented by a backend that must ask the user something
// (the file backend's passphrase) before a call: store calls it before the
// lock and the time bound.
type preparer interface {
	prepare(op, key string) error
}

func (s *store) prepare(op, key string) error {
	if p, ok := s.b.(preparer); ok {
		return p.prepare(op, key)
	}
	return nil
}

// store is the Store every non-memory backend is served through.
type store struct {
	name    string
	b       backend
	dir     string // <Home>/vault/<name>: index, lock, sealed files
	timeout time.Duration
	warn    io.Writer // nil: warnings dropped
	// turn queues this process's own calls before they compete for the
	// cross-process lock: each holder's backend call is bounded, so the
	// queue drains, and only waiting for other processes is bounded.
	turn chan struct{}
}

func newStore(name string, warn io.Writer, b backend, dir string, timeout time.Duration) *store {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &store{name: name, b: b, dir: dir, timeout: timeout, warn: warn, turn: make(chan struct{}, 1)}
}

func (s *store) Name() string { return s.name }

// lockWaits is how many call bounds a call waits for the cross-process lock.
const lockWaits = 6

// lock serialises the calls of every azkeep process on this backend and
// Home: an overwrite of a large item (sealed file + OS item) or a pass
// insert is then never seen half-done.
//
// Waiting for the lock has its own bound, lockWaits times the call bound: the
// holder's own backend call is bounded, so only a queue of other azkeep
// calls can make it wait that long.
func (s *store) lock(ctx context.Context) (func() error, error) {
	if err := os.MkdirAll(s.dir, fileutil.DirPerm); err != nil {
		return nil, hint.New(err, "make sure AZKEEP_HOME is a writable directory")
	}
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// A free lock is taken at once, whatever the bound: a tiny bound must
	// not read as another process holding it.
	unlock, ok := fileutil.TryLock(filepath.Join(s.dir, "lock"))
	var err error
	ctx, cancel := context.WithTimeout(ctx, lockWaits*s.timeout)
	defer cancel()
	if !ok {
		unlock, err = fileutil.Lock(ctx, filepath.Join(s.dir, "lock"))
	}
	if err != nil {
		<-s.turn
		if ctx.Err() != nil {
			return nil, hint.New(mark(ErrTimeout, "another azkeep process holds %s", filepath.Join(s.dir, "lock")),
				"wait for the other azkeep command to finish, then retry")
		}
		return nil, err
	}
	return func() error {
		defer func() { <-s.turn }()
		return unlock()
	}, nil
}

// begin is the opening Get, Set and Delete share: the key is checked, the
// backend prepared (the file vault's passphrase is asked before the lock
// and the time bound), then the lock taken. Errors come as backendError.
func (s *store) begin(ctx context.Context, op, key string) (unlock func() error, err error) {
	if err := checkKey(key); err != nil {
		return nil, backendError(s.name, op, key, err)
	}
	if err := s.prepare(op, key); err != nil {
		return nil, backendError(s.name, op, key, err)
	}
	unlock, err = s.lock(ctx)
	if err != nil {
		return nil, backendError(s.name, op, key, err)
	}
	return unlock, nil
}

func (s *store) Get(ctx context.Context, key string) ([]byte, error) {
	unlock, err := s.begin(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	defer unlock()
	v, err := bounded(ctx, s.timeout, func(ctx context.Context) ([]byte, error) { return s.b.get(ctx, key) })
	if err != nil {
		return nil, backendError(s.name, "get", key, err)
	}
	return v, nil
}

func (s *store) Set(ctx context.Context, key string, data []byte) error {
	unlock, err := s.begin(ctx, "set", key)
	if err != nil {
		return err
	}
	defer unlock()
	// The index is written first so that it always names at least what the
	// backend holds: a crash between the two leaves an entry List shows and
	// a migration skips (Get says not found), never an item nobody can find.
	idx, err := s.indexToWrite()
	if err != nil {
		return backendError(s.name, "set", key, err)
	}
	prev, had := idx.Items[key]
	idx.Items[key] = indexEntry{Size: len(data), Updated: time.Now().UTC().Truncate(time.Second)}
	if err := s.writeIndex(idx); err != nil {
		return backendError(s.name, "set", key, err)
	}
	_, err = bounded(ctx, s.timeout, func(ctx context.Context) (struct{}, error) { return struct{}{}, s.b.set(ctx, key, data) })
	if err != nil {
		if !errors.Is(err, ErrTimeout) {
			// The backend refused: the index goes back to what it said.
			if had {
				idx.Items[key] = prev
			} else {
				delete(idx.Items, key)
			}
			_ = s.writeIndex(idx)
		}
		return backendError(s.name, "set", key, err)
	}
	return nil
}

func (s *store) Delete(ctx context.Context, key string) error {
	unlock, err := s.begin(ctx, "delete", key)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = bounded(ctx, s.timeout, func(ctx context.Context) (struct{}, error) { return struct{}{}, s.b.del(ctx, key) })
	if err != nil && !errors.Is(err, ErrNotFound) {
		return backendError(s.name, "delete", key, err)
	}
	idx, err := s.indexToWrite()
	if err != nil {
		return backendError(s.name, "delete", key, err)
	}
	if _, ok := idx.Items[key]; ok {
		delete(idx.Items, key)
		if err := s.writeIndex(idx); err != nil {
			return backendError(s.name, "delete", key, err)
		}
	}
	return nil
}

// List reads the index: it names what azkeep stored through this Home, with
// sizes, without asking the backend (which may be locked, or unable to
// list, like wincred and the Keychain through go-keyring).
func (s *store) List(ctx context.Context) ([]Item, error) {
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, backendError(s.name, "list", "", err)
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return nil, backendError(s.name, "list", "", err)
	}
	out := make([]Item, 0, len(idx.Items))
	for k, e := range idx.Items {
		out = append(out, Item{Key: k, Size: e.Size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// index is the non-secret list of what azkeep stored in a backend.
type index struct {
	Version int                   `json:"version"`
	Backend string                `json:"backend"`
	Items   map[string]indexEntry `json:"items"`
}

type indexEntry struct {
	Size    int       `json:"size"`
	Updated time.Time `json:"updated"`
}

func (s *store) indexPath() string { return filepath.Join(s.dir, "index.json") }

func (s *store) readIndex() (*index, error) {
	idx := &index{Version: 1, Backend: s.name, Items: map[string]indexEntry{}}
	b, err := os.ReadFile(s.indexPath())
	if errors.Is(err, os.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, idx); err != nil || idx.Version != 1 {
		return nil, hint.New(mark(ErrCorrupt, "index %s: unreadable (%v)", s.indexPath(), err),
			"move the file away; azkeep rebuilds the index as items are stored again")
	}
	if idx.Items == nil {
		idx.Items = map[string]indexEntry{}
	}
	return idx, nil
}

// indexToWrite is readIndex for Set and Delete: a damaged index, which is
// azkeep's bookkeeping and holds no secret, must not make the vault refuse
// a write (a rotated refresh token would have nowhere to go). It is kept
// aside as index.json.damaged and rebuilt from what is known: nothing yet,
// then each key written from now on.
func (s *store) indexToWrite() (*index, error) {
	idx, err := s.readIndex()
	if !errors.Is(err, ErrCorrupt) {
		return idx, err
	}
	aside := s.indexPath() + ".damaged"
	if rerr := os.Rename(s.indexPath(), aside); rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	if s.warn != nil {
		fmt.Fprintf(s.warn, "azkeep: warning: the %s vault's index %s was damaged (kept as %s); rebuilding it: azkeep vault status lists only the items written from now on\n", s.name, s.indexPath(), aside)
	}
	return &index{Version: 1, Backend: s.name, Items: map[string]indexEntry{}}, nil
}

func (s *store) writeIndex(idx *index) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return fileutil.WriteAtomic(s.indexPath(), append(b, '\n'), fileutil.FilePerm)
}
