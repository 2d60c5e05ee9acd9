package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/sessiondir"
)

// redeemAside materialises a session for a per-session dir without the
// refresh token ever touching that dir. The seed's start procedure puts the
// refresh token into the cache (step 3), redeems it and strips it again
// (step 8); for the target dir that is the seed, but a per-session dir is
// read by the child at any moment. So the procedure runs in a private
// scratch dir (0700, next to the exec dirs, owned by this process so the
// sweep removes it after a crash), and only its result — access tokens,
// account, profile, settings — is copied into dest, each file atomically,
// the token cache under the lock az takes.
func redeemAside(ctx context.Context, base, dest string, materialize func(ctx context.Context, dir string) (*lifecycle.Materialized, error)) (*lifecycle.Materialized, error) {
	scratch, err := sessiondir.New(base, "redeem")
	if err != nil {
		return nil, err
	}
	defer scratch.Remove()
	if err := copyConfigFiles(ctx, dest, scratch.Path); err != nil {
		return nil, fmt.Errorf("prepare a private dir to redeem in: %w", err)
	}
	mat, err := materialize(ctx, scratch.Path)
	if err != nil {
		return nil, err
	}
	if err := copyConfigFiles(ctx, scratch.Path, dest); err != nil {
		return nil, fmt.Errorf("update %s: %w", dest, err)
	}
	mat.ConfigDir = dest
	return mat, nil
}

// copyConfigFiles copies the Azure CLI's files (regular files at the top of
// src) into dst, leaving out azkeep's own markers, lock files and temp
// files.
func copyConfigFiles(ctx context.Context, src, dst string) error {
	entries, err := os.ReadDir(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || skipCopy(name) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return err
		}
		path := filepath.Join(dst, name)
		if name == azconfig.TokenCacheJSON || name == azconfig.TokenCacheBin {
			// az reads its cache without a lock but writes it under one:
			// never interleave with a writing az in the child.
			unlock, err := azconfig.LockCache(ctx, path+azconfig.LockSuffix)
			if err != nil {
				return err
			}
			err = fileutil.WriteAtomic(path, data, fileutil.FilePerm)
			unlock()
			if err != nil {
				return err
			}
			continue
		}
		if err := fileutil.WriteAtomic(path, data, fileutil.FilePerm); err != nil {
			return err
		}
	}
	return nil
}

func skipCopy(name string) bool {
	return name == sessiondir.OwnerFile || name == sessiondir.MarkerFile ||
		strings.HasPrefix(name, ".") || strings.HasSuffix(name, azconfig.LockSuffix)
}
