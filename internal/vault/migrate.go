package vault

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/azkeep/azkeep/internal/hint"
)

// MigrateReport says what Migrate did.
type MigrateReport struct {
	// Copied counts the items written to and verified in the target.
	Copied int
	// Deleted counts the items removed from the source afterwards.
	Deleted int
	// Skipped names index entries the source no longer holds (an earlier
	// run or a crash removed them); nothing was lost.
	Skipped []string
}

// MigrateOptions adjust Migrate.
type MigrateOptions struct {
	// AfterCopy runs once every item is in the target, before the first
	// source item is deleted; an error stops the migration there. The CLI
	// records the new backend here, so that a kill during the deletes leaves
	// azkeep using the backend that holds everything.
	AfterCopy func() error
}

// Migrate moves every item azkeep stored in from into to. It works in two
// passes so that a kill at any point loses nothing and a second run
// finishes the job:
//
//  1. copy: each item is read from the source, written to the target and
//     read back and compared (constant time);
//  2. only when every item is in the target: each source item is deleted,
//     after checking it still holds the value that was copied (a rotation
//     that wrote a new refresh token meanwhile is copied again first).
//
// Items already in the target are overwritten by the source's value. The
// report says what was done, also when an error stopped it part way.
func Migrate(ctx context.Context, from, to Store, opts MigrateOptions) (MigrateReport, error) {
	var rep MigrateReport
	if from.Name() == to.Name() {
		return rep, hint.New(fmt.Errorf("vault migrate: source and target are both %s", from.Name()),
			"pick another backend with --to; to finish an interrupted migration, name its source: azkeep --vault SOURCE vault migrate --to "+to.Name())
	}
	items, err := from.List(ctx)
	if err != nil {
		return rep, err
	}
	copied := map[string][]byte{}
	for _, it := range items {
		v, err := from.Get(ctx, it.Key)
		if errors.Is(err, ErrNotFound) {
			rep.Skipped = append(rep.Skipped, it.Key)
			continue
		}
		if err != nil {
			return rep, err
		}
		if err := copyVerified(ctx, to, it.Key, v); err != nil {
			return rep, err
		}
		copied[it.Key] = v
		rep.Copied++
	}
	if opts.AfterCopy != nil {
		if err := opts.AfterCopy(); err != nil {
			return rep, err
		}
	}
	for _, it := range items {
		want, ok := copied[it.Key]
		if !ok {
			continue
		}
		for attempt := 0; ; attempt++ {
			cur, err := from.Get(ctx, it.Key)
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil {
				return rep, err
			}
			if subtle.ConstantTimeCompare(cur, want) != 1 {
				// Changed since the copy (a rotation): copy the new value.
				if attempt > 3 {
					return rep, fmt.Errorf("vault migrate: %q keeps changing in %s; stop azkeep agent and retry", it.Key, from.Name())
				}
				if err := copyVerified(ctx, to, it.Key, cur); err != nil {
					return rep, err
				}
				want = cur
				continue
			}
			if err := from.Delete(ctx, it.Key); err != nil {
				return rep, err
			}
			rep.Deleted++
			break
		}
	}
	return rep, nil
}

func copyVerified(ctx context.Context, to Store, key string, v []byte) error {
	if err := to.Set(ctx, key, v); err != nil {
		return err
	}
	got, err := to.Get(ctx, key)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got, v) != 1 {
		return hint.New(fmt.Errorf("vault migrate: %s returned a different value for %q than was written; the source is untouched", to.Name(), key),
			"report this as a bug; keep using the source backend")
	}
	return nil
}
