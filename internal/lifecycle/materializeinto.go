package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/sessiondir"
)

// MaterializeInto is Materialize for a per-session dir (azkeep exec,
// azkeep env), which a child process reads at any moment: the procedure
// runs in a private scratch dir (0700, under scratchBase, owned by this
// process so that sessiondir.Sweep removes it after a crash), and only its
// result — access tokens, account, profile, settings — is copied into dir,
// each file atomically, the token cache under the lock az takes. extra are
// resources to fetch besides the integration's (the managed-identity
// endpoint of azkeep exec --server serves any resource on demand).
func (m *Manager) MaterializeInto(ctx context.Context, query, dir, scratchBase string, extra ...string) (*Materialized, error) {
	var w *wanted
	if len(extra) > 0 {
		w = &wanted{extra: extra}
	}
	return m.materializeInto(ctx, query, dir, scratchBase, w)
}

// materializeInto is MaterializeInto fetching what w says.
func (m *Manager) materializeInto(ctx context.Context, query, dir, scratchBase string, w *wanted) (*Materialized, error) {
	if err := checkOwnCache(dir); err != nil {
		return nil, err
	}
	scratch, err := sessiondir.New(scratchBase, "redeem")
	if err != nil {
		return nil, err
	}
	defer scratch.Remove()
	if err := copyConfigFiles(ctx, dir, scratch.Path); err != nil {
		return nil, fmt.Errorf("prepare a private dir to redeem in: %w", err)
	}
	mat, err := m.materializeQuery(ctx, query, scratch.Path, true, w)
	if err != nil {
		return nil, err
	}
	if err := copyConfigFiles(ctx, scratch.Path, dir); err != nil {
		return nil, fmt.Errorf("update %s: %w", dir, err)
	}
	mat.ConfigDir = dir
	return mat, nil
}

// checkOwnCache refuses a per-session dir whose az would read the encrypted
// store of Linux or macOS: that is one keyring item for every config dir
// with encryption on, the target dir's among them, so the dir would not
// hold a session of its own. PrepareDir turns encryption off in the dir's
// config; only AZURE_CORE_ENCRYPT_TOKEN_CACHE, which overrides every dir's
// config, turns it back on.
func checkOwnCache(dir string) error {
	p, err := azconfig.CachePersistence(dir)
	if err != nil || (p != azconfig.Libsecret && p != azconfig.Keychain) {
		return err
	}
	return hint.New(fmt.Errorf("%s=%s turns token-cache encryption on in every config dir, and a per-session dir cannot share with the target dir the one item az keeps in %s",
		azconfig.EncryptEnv, os.Getenv(azconfig.EncryptEnv), p),
		"unset "+azconfig.EncryptEnv+"; set core.encrypt_token_cache in the target dir's config instead (az config set core.encrypt_token_cache=true)")
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
