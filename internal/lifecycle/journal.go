package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/workspace"
)

// The journal of refresh tokens in flight. Refresh tokens may be
// single-use: once the token endpoint has answered, the rotated one is the
// only valid copy, and wherever it lands outside the vault — the az
// engine's staging dir or a login dir when azkeep is killed while az
// redeems, a file of the journal when the vault refuses it — the next
// procedure moves it into the vault before anything deletes it (Recover),
// then removes it from disk.

// journalDir is where refresh tokens the vault refused wait for it: one
// file per token, named after the integration, 0600 in a 0700 dir.
func (m *Manager) journalDir() string { return filepath.Join(m.WS.Dir(), "journal") }

// spill writes a refresh token the vault refused (vaultErr) into the
// journal, checked (fsync'ed and renamed into place), and returns the error
// the user sees: where the token is, or that it could not be kept.
func (m *Manager) spill(in *workspace.Integration, rt []byte, vaultErr error) error {
	path, err := m.journalPut(in.ID, rt)
	return m.spillError(in, path, err, vaultErr)
}

// spillError is spill's error once journalPut returned path and err.
func (m *Manager) spillError(in *workspace.Integration, path string, err, vaultErr error) error {
	if err != nil {
		return hint.New(fmt.Errorf("store the rotated refresh token of %q in the vault (%s): %w; writing it to %s failed too (%v): the token is lost", in.Alias, m.Vault.Name(), vaultErr, m.journalDir(), err),
			"free disk space or fix the vault, then run azkeep integration login "+in.Alias)
	}
	return hint.New(fmt.Errorf("store the rotated refresh token of %q in the vault (%s): %w; it was saved in %s", in.Alias, m.Vault.Name(), vaultErr, path),
		"fix the vault; the next azkeep command moves the token there")
}

// journalAhead writes rt into the journal without waiting for the disk: it
// is there for the next command if this process dies while the vault
// stores it (a kill, not a power cut: the vault's write is the durable
// copy, and a refusal goes through journalPut). The file is written in
// place, so it is visible from the first byte; a torn one is discarded by
// the recovery.
func (m *Manager) journalAhead(integrationID string, rt []byte) (string, error) {
	dir := m.journalDir()
	if err := os.MkdirAll(dir, fileutil.DirPerm); err != nil {
		return "", err
	}
	path := filepath.Join(dir, integrationID+"."+workspace.NewID()+".json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileutil.FilePerm)
	if err != nil {
		return "", err
	}
	_, err = f.Write(rt)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

func (m *Manager) journalPut(integrationID string, rt []byte) (string, error) {
	dir := m.journalDir()
	if err := os.MkdirAll(dir, fileutil.DirPerm); err != nil {
		return "", err
	}
	path := filepath.Join(dir, integrationID+"."+workspace.NewID()+".json")
	if err := fileutil.WriteAtomic(path, rt, fileutil.FilePerm); err != nil {
		return "", err
	}
	return path, nil
}

// Recover takes the procedures' lock when something waits in flight and
// runs recoverInFlight: every azkeep command calls it first (see
// cli.Factory.Rotated), so a token left by a killed run goes into the
// vault before any command could delete it, and rests on disk no longer.
func (m *Manager) Recover(ctx context.Context) error {
	if !m.anythingInFlight() {
		return nil
	}
	ctx, unlock, err := m.lockOps(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return m.recoverInFlight(ctx)
}

// recoverInFlight moves every refresh token a killed or refused run left outside
// the vault into it (the newest wins: see above) and removes it from disk:
// the journal's files, the token caches of the staging dirs
// (Manager.InFlightDirs) and the login dirs whose owner is gone. The
// caller holds the procedures' lock, so no redemption of this home is
// running. A token the vault still refuses stays where it is, and the
// returned error says where.
func (m *Manager) recoverInFlight(ctx context.Context) error {
	if !m.anythingInFlight() {
		return nil
	}
	st, err := m.WS.Load()
	if err != nil {
		return err
	}
	var errs []error
	// The journal first: its tokens are the newest (the vault refused
	// them after a redemption).
	files, _ := filepath.Glob(filepath.Join(m.journalDir(), "*.json"))
	sort.Slice(files, func(i, j int) bool { return modTime(files[i]) < modTime(files[j]) })
	for _, p := range files {
		id, _, _ := strings.Cut(filepath.Base(p), ".")
		in := st.IntegrationByID(id)
		if in == nil { // the integration was deleted: its token goes too
			errs = append(errs, os.Remove(p))
			continue
		}
		rt, err := os.ReadFile(p)
		if err == nil && !json.Valid(rt) {
			// Torn by a kill while it was written ahead: the vault was
			// not asked yet, so this token never existed anywhere else.
			errs = append(errs, os.Remove(p))
			continue
		}
		if err == nil {
			err = m.Vault.Set(ctx, VaultKey(in.ID, itemRefreshToken), rt)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("move the refresh token of %q from %s into the vault (%s): %w", in.Alias, p, m.Vault.Name(), err))
			continue
		}
		errs = append(errs, os.Remove(p))
	}
	for _, dir := range m.leftDirs() {
		err := m.recoverDir(ctx, st, dir.path)
		errs = append(errs, err)
		if dir.remove && err == nil {
			errs = append(errs, os.RemoveAll(dir.path))
		}
	}
	return errors.Join(errs...)
}

// recoverDir moves each integration's refresh token found in dir's token
// cache into the vault when it differs from the vault's, and removes every
// refresh token from the cache.
func (m *Manager) recoverDir(ctx context.Context, st *workspace.State, dir string) error {
	var errs []error
	for i := range st.Integrations {
		in := &st.Integrations[i]
		if in.HomeAccountID == "" {
			continue
		}
		old, _ := m.Vault.Get(ctx, VaultKey(in.ID, itemRefreshToken))
		if err := m.keepRefreshToken(ctx, in, dir, old); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Tokens of no known integration (a first login killed before it was
	// stored) are of no use: they go.
	_, err := m.Files.TakeRefreshToken(dir, "")
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return err
}

type leftDir struct {
	path   string
	remove bool
}

// leftDirs are the dirs where a killed run may have left a refresh token:
// the staging dirs (kept, their token cache emptied), the login dirs whose
// owner is gone and the per-session dirs of the scratch bases whose owners
// are gone and that hold a token cache (removed).
func (m *Manager) leftDirs() []leftDir {
	var out []leftDir
	for _, d := range m.InFlightDirs {
		if hasTokenCache(d) {
			out = append(out, leftDir{path: d})
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(m.WS.Dir(), loginDirPrefix+"*"))
	for _, d := range dirs {
		if m.ownerGone(d) {
			out = append(out, leftDir{path: d, remove: true})
		}
	}
	for _, d := range m.staleScratchDirs() {
		out = append(out, leftDir{path: d, remove: true})
	}
	return out
}

// staleScratchDirs are the per-session dirs under ScratchBases whose
// owners are gone and that hold a token cache: an exec or env killed while
// it redeemed in its private scratch dir (MaterializeInto) leaves the
// rotated refresh token there.
func (m *Manager) staleScratchDirs() []string {
	var out []string
	for _, base := range m.ScratchBases {
		dirs, _ := sessiondir.Stale(base)
		for _, d := range dirs {
			if hasTokenCache(d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// anythingInFlight is the cheap test every command makes: a journal file,
// a staging token cache or a login dir.
func (m *Manager) anythingInFlight() bool {
	if files, _ := filepath.Glob(filepath.Join(m.journalDir(), "*.json")); len(files) > 0 {
		return true
	}
	if dirs, _ := filepath.Glob(filepath.Join(m.WS.Dir(), loginDirPrefix+"*")); len(dirs) > 0 {
		return true
	}
	for _, d := range m.InFlightDirs {
		if hasTokenCache(d) {
			return true
		}
	}
	return len(m.staleScratchDirs()) > 0
}

// ownerLock is the lock file a login dir's owner holds while it runs.
const ownerLock = ".azkeep-owner.lock"

// ownerGone reports whether no process holds the login dir's owner lock
// (azkeep died, or was killed, before removing the dir). Its owner takes
// the lock right after creating the dir: a dir without the lock file is
// being created, unless it is older than a minute (a crash in between, or
// an older azkeep's dir).
func (m *Manager) ownerGone(dir string) bool {
	lock := filepath.Join(dir, ownerLock)
	if !fileExists(lock) {
		fi, err := os.Stat(dir)
		return err == nil && m.now().Sub(fi.ModTime()) > time.Minute
	}
	unlock, ok := fileutil.TryLock(lock)
	if !ok {
		return false
	}
	_ = unlock()
	return true
}

func modTime(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.ModTime().UnixNano()
}

func hasTokenCache(dir string) bool {
	return fileExists(filepath.Join(dir, "msal_token_cache.json")) || fileExists(filepath.Join(dir, "msal_token_cache.bin"))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
