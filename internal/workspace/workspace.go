// Package workspace is azkeep's own, non-secret state: the integrations
// (Entra ID tenants the user logs in to) and the sessions (one per
// subscription reachable through an integration).
//
// Everything lives in one JSON file, state.json, with a schema version, in
// azkeep's home dir (AZKEEP_HOME; 0700 dir, 0600 file); file.go describes
// its layout. Every
// read-modify-write holds an exclusive file lock (state.json.lock) and every
// write is atomic (temp file, fsync, rename), so the CLI and the agent can
// share the file without any other coordination. A file that does not parse,
// or that a newer azkeep wrote, is reported and never overwritten.
//
// No secret is ever stored here: refresh tokens, accounts and profiles live
// in the vault.
package workspace

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
)

// SchemaVersion is the version of the state file this azkeep writes. It
// reads every version up to it (1: sessions as objects; 2: as rows).
const SchemaVersion = 2

// File names inside the home dir.
const (
	StateFile = "state.json"
	lockFile  = "state.json.lock"
)

// IntegrationStatus says whether an integration's secrets are usable.
type IntegrationStatus string

// Integration statuses.
const (
	// Offline: never logged in, or logged out; the vault holds nothing.
	Offline IntegrationStatus = "offline"
	// Online: the vault holds the refresh token, account and profile.
	Online IntegrationStatus = "online"
	// NeedsLogin: the token endpoint rejected the refresh token (expired,
	// revoked, MFA required); `azkeep integration login` fixes it.
	NeedsLogin IntegrationStatus = "needs-login"
)

// SessionStatus is a session's state, as the seed names them.
type SessionStatus string

// Session statuses.
const (
	Inactive SessionStatus = "inactive"
	Pending  SessionStatus = "pending"
	Active   SessionStatus = "active"
)

// Integration is one Entra ID tenant the user signs in to.
type Integration struct {
	ID    string `json:"id"`
	Alias string `json:"alias"`
	// Tenant is what the user gave: a tenant id (GUID) or a domain.
	Tenant string `json:"tenant"`
	// TenantID is the tenant's GUID, learnt at login.
	TenantID string            `json:"tenant_id,omitempty"`
	Location string            `json:"location,omitempty"`
	Cloud    azure.Cloud       `json:"cloud"`
	Status   IntegrationStatus `json:"status"`
	// Resources are extra resources whose access tokens are fetched on
	// start and rotation besides ARM (e.g. https://vault.azure.net).
	Resources []string `json:"resources,omitempty"`
	// NoDefaultResources turns the default resources off (the tokens
	// clients ask for most, lifecycle.DefaultResources); SkipResources
	// leaves some of them out.
	NoDefaultResources bool     `json:"no_default_resources,omitempty"`
	SkipResources      []string `json:"skip_resources,omitempty"`
	// Username and HomeAccountID ("<uid>.<utid>") name the signed-in
	// account; neither is a secret.
	Username      string    `json:"username,omitempty"`
	HomeAccountID string    `json:"home_account_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	LoggedInAt    time.Time `json:"logged_in_at,omitzero"`
}

// Session is one subscription reachable through an integration. The file
// keeps it as a row (file.go); its JSON names are schema 1's, and the
// row's column names.
type Session struct {
	// ID is stable: derived from the integration id and the subscription
	// id, so a renamed subscription keeps its session.
	ID               string        `json:"id"`
	SubscriptionID   string        `json:"subscription_id"`
	SubscriptionName string        `json:"subscription_name"`
	TenantID         string        `json:"tenant_id"`
	IntegrationID    string        `json:"integration_id"`
	Status           SessionStatus `json:"status"`
	// ConfigDir is the Azure CLI config dir the session is active in.
	ConfigDir string    `json:"config_dir,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	// ExpiresAt is the ARM access token's expiry, kept as a time (the
	// tool the seed comes from kept a string and never rotated).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// State is what the state file holds (file.go says how).
type State struct {
	Schema       int
	Integrations []Integration
	Sessions     []Session
}

// Workspace is the state file in one home dir.
type Workspace struct {
	dir string
}

// Open returns the workspace in dir, creating dir (0700) if needed.
func Open(dir string) (*Workspace, error) {
	if dir == "" {
		return nil, errors.New("workspace: empty home dir")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, fileutil.DirPerm); err != nil {
		return nil, hint.New(fmt.Errorf("cannot create azkeep's home %s: %w", abs, err), "set AZKEEP_HOME to a writable dir")
	}
	return &Workspace{dir: abs}, nil
}

// Dir is the home dir.
func (w *Workspace) Dir() string { return w.dir }

// Path is the state file's path.
func (w *Workspace) Path() string { return filepath.Join(w.dir, StateFile) }

// Load reads the state without taking the lock: writes are atomic, so a
// reader always sees a whole file. A missing file is an empty state.
func (w *Workspace) Load() (*State, error) {
	data, err := os.ReadFile(w.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return &State{Schema: SchemaVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	return w.decode(data)
}

func (w *Workspace) decode(data []byte) (*State, error) {
	const fix = "restore it from a backup, or move it away and log in again (azkeep never overwrites it)"
	// One pass: a missing schema decodes as 0 and is refused below.
	if err := checkDepth(data); err != nil {
		return nil, hint.New(fmt.Errorf("state file %s is corrupt: %w", w.Path(), err), fix)
	}
	st, err := decodeState(data)
	if err != nil {
		return nil, hint.New(fmt.Errorf("state file %s is corrupt: %w", w.Path(), err), fix)
	}
	switch {
	case st.Schema > SchemaVersion:
		return nil, hint.New(fmt.Errorf("state file %s has schema %d, newer than this azkeep understands (%d)", w.Path(), st.Schema, SchemaVersion),
			"upgrade azkeep, or point AZKEEP_HOME elsewhere")
	case st.Schema < 1:
		return nil, hint.New(fmt.Errorf("state file %s has no valid schema version", w.Path()), fix)
	}
	return st, nil
}

// Lock takes the state lock for a multi-step operation; Update takes it
// itself. The returned func releases it.
func (w *Workspace) lock(ctx context.Context) (func() error, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	unlock, err := fileutil.Lock(ctx, filepath.Join(w.dir, lockFile))
	if err != nil {
		return nil, hint.New(fmt.Errorf("cannot lock azkeep's state: %w", err), "another azkeep is busy; retry in a moment")
	}
	return unlock, nil
}

// Update runs fn on the current state under the lock and writes the result
// atomically. When fn returns an error nothing is written. A state file
// that cannot be read is never overwritten.
func (w *Workspace) Update(ctx context.Context, fn func(*State) error) error {
	return w.update(ctx, fn, true)
}

// UpdateInFlight is Update for a state that holds only while the caller
// runs, such as a start in flight: the write is atomic but not fsynced,
// since after a power cut that state would be stale whether it was on disk
// or not, and the caller's next durable Update replaces it.
func (w *Workspace) UpdateInFlight(ctx context.Context, fn func(*State) error) error {
	return w.update(ctx, fn, false)
}

func (w *Workspace) update(ctx context.Context, fn func(*State) error, durable bool) error {
	unlock, err := w.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := w.Load()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	return w.write(st, durable)
}

func (w *Workspace) write(st *State, durable bool) error {
	st.Schema = SchemaVersion
	if st.Integrations == nil {
		st.Integrations = []Integration{}
	}
	if st.Sessions == nil {
		st.Sessions = []Session{}
	}
	data, err := encodeState(st)
	if err != nil {
		return err
	}
	write := fileutil.Replace
	if durable {
		write = fileutil.WriteAtomic
	}
	if err := write(w.Path(), data, fileutil.FilePerm); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// NewID returns a fresh random id for an integration (16 hex digits).
func NewID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// SessionID is the stable id of the session for subscriptionID reached
// through integrationID: a renamed subscription keeps its id, and the same
// subscription through two integrations gets two sessions.
func SessionID(integrationID, subscriptionID string) string {
	sum := sha256.Sum256([]byte(integrationID + "/" + normGUID(subscriptionID)))
	return hex.EncodeToString(sum[:6])
}

// maxDepth is how deeply the state file's arrays and objects may nest; the
// file azkeep writes nests 4 deep.
const maxDepth = 256

// checkDepth refuses JSON nested deeper than maxDepth before a recursive
// decoder sees it: a file of millions of '[' overflowed its stack (a
// fatal error no recover catches) instead of failing cleanly.
func checkDepth(s []byte) error {
	depth, inString := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			if depth++; depth > maxDepth {
				return fmt.Errorf("it nests deeper than %d levels (at byte %d)", maxDepth, i)
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return nil
}
