package sessiondir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// Persistent per-session dirs are the ones `azkeep env SESSION` points a
// shell at: $AZKEEP_HOME/env/<session-id>. They outlive azkeep; the agent
// (and every `azkeep env`) keeps them fresh through Refresh.

// MarkerFile records, in a persistent dir, which session it holds and when
// its ARM access token expires. Not a secret.
const MarkerFile = "azkeep.session"

// Marker is the content of MarkerFile.
type Marker struct {
	SessionID string    `json:"session_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Persistent is one persistent per-session dir.
type Persistent struct {
	Dir string
	Marker
}

// PersistentBase is where the persistent dirs of an azkeep home live.
func PersistentBase(home string) string { return filepath.Join(home, "env") }

// PersistentDir is the persistent dir of one session.
func PersistentDir(home, sessionID string) string {
	return filepath.Join(PersistentBase(home), sessionID)
}

// WriteMarker records m in dir (atomic, 0600).
func WriteMarker(dir string, m Marker) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return fileutil.WriteAtomic(filepath.Join(dir, MarkerFile), data, fileutil.FilePerm)
}

// ListPersistent returns the persistent dirs under home that carry a marker.
func ListPersistent(home string) ([]Persistent, error) {
	base := PersistentBase(home)
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Persistent
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(base, e.Name())
		m, err := ReadMarker(dir)
		if err != nil {
			continue
		}
		out = append(out, Persistent{Dir: dir, Marker: m})
	}
	return out, nil
}

// MaterializeFunc writes session query into dir with a fresh access token
// and returns its expiry (lifecycle.Manager.Materialize, adapted).
type MaterializeFunc func(ctx context.Context, query, dir string) (time.Time, error)

// ReadMarker reads the marker of a persistent dir.
func ReadMarker(dir string) (Marker, error) {
	var m Marker
	data, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil || m.SessionID == "" {
		return Marker{}, fmt.Errorf("%s: not an azkeep session marker", filepath.Join(dir, MarkerFile))
	}
	return m, nil
}

// Refresh re-materialises the persistent dir if its token expires within
// window of now, and returns its (new) expiry.
func Refresh(ctx context.Context, dir string, window time.Duration, now time.Time, materialize MaterializeFunc) (time.Time, error) {
	m, err := ReadMarker(dir)
	if err != nil {
		return time.Time{}, err
	}
	if m.ExpiresAt.After(now.Add(window)) {
		return m.ExpiresAt, nil
	}
	exp, err := materialize(ctx, m.SessionID, dir)
	if err != nil {
		return m.ExpiresAt, fmt.Errorf("refresh %s: %w", dir, err)
	}
	return exp, WriteMarker(dir, Marker{SessionID: m.SessionID, ExpiresAt: exp})
}
