// Package vault is azkeep's secret store: the seed's "System's vault".
//
// A Store keeps opaque secrets under keys of the form
// "<integration-id>/<item>", e.g. "6f1c…/refresh-token". Backends are chosen
// by name (see Open); the OS backends, pass and the sealed file backend live
// in this package, and Memory is the in-process fake for tests.
package vault

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get for a key the store does not hold.
var ErrNotFound = errors.New("vault: item not found")

// Item describes a stored secret without revealing it.
type Item struct {
	Key  string `json:"key"`
	Size int    `json:"size"`
}

// Store is a secret store. Implementations are safe for concurrent use and
// bound every call in time: a locked or unresponsive backend returns an
// error, it never blocks forever.
type Store interface {
	// Name is the backend's name as accepted by Open ("secret-service", "file", …).
	Name() string
	// Get returns the secret under key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores data under key, replacing any previous value.
	Set(ctx context.Context, key string, data []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List names what azkeep stored, with sizes, never values.
	List(ctx context.Context) ([]Item, error)
}
