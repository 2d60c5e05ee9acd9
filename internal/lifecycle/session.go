package lifecycle

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

// Materialized says what Materialize wrote.
type Materialized struct {
	Session     workspace.Session
	Integration workspace.Integration
	ConfigDir   string
	// ExpiresAt is the new ARM access token's expiry (start step 6).
	ExpiresAt time.Time
	// Rotated is true when the endpoint returned a new refresh token and
	// the vault now holds it (start step 7).
	Rotated bool
}

// Materialize writes session query into the Azure CLI config dir dir with
// a fresh access token and no refresh token: start steps 1–8 and the
// location of step 9, without the bookkeeping that makes it the target's
// active session. It holds the procedures' lock, so it may be called from
// any process at any time to refresh a dir.
func (m *Manager) Materialize(ctx context.Context, query, dir string) (*Materialized, error) {
	return m.materializeQuery(ctx, query, dir, false, nil)
}

// materializeQuery is Materialize with extra resources to fetch besides
// the integration's; scratch marks a dir the caller deletes afterwards
// (see materialize).
func (m *Manager) materializeQuery(ctx context.Context, query, dir string, scratch bool, w *wanted) (*Materialized, error) {
	ctx, st, unlock, err := m.lockState(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s, in, err := m.resolve(st, query)
	if err != nil {
		return nil, err
	}
	return m.materialize(ctx, in, s, dir, scratch, w)
}

// wanted is what a redemption fetches besides ARM and the integration's
// resources (nil: nothing more).
type wanted struct {
	// extra are more resources to fetch.
	extra []string
	// only fetches extra alone, in tenant when set (an on-demand token,
	// see Token): no ARM token, and the dir's profile and settings are
	// left alone.
	only   bool
	tenant string
	// replace stops the session active in the dir in the same writes
	// (engine.Request.Replace): a switch.
	replace bool
}

func (m *Manager) resolve(st *workspace.State, query string) (*workspace.Session, *workspace.Integration, error) {
	s, err := st.Session(query)
	if err != nil {
		return nil, nil, err
	}
	in := st.IntegrationByID(s.IntegrationID)
	if in == nil {
		return nil, nil, fmt.Errorf("session %s belongs to no integration (state file edited by hand?)", s.ID)
	}
	return s, in, nil
}

// materialize is Materialize with the lock held: start steps 1–8 and the
// file part of step 9 in dir, w saying what to fetch besides ARM and the
// integration's resources. On failure the dir's files are put back as they were and
// neither vault nor state changed (except the needs-login mark), unless
// the error wraps errKeptOnDisk.
//
// A rotated refresh token the vault refuses stays in dir (the engine
// writes it there) when dir is durable; when dir is scratch (deleted by
// the caller), or the engine could not write it either (a full disk), it
// goes to the journal, and the error says where it is, or that it is lost.
func (m *Manager) materialize(ctx context.Context, in *workspace.Integration, s *workspace.Session, dir string, scratch bool, w *wanted) (_ *Materialized, err error) {
	if in.Status == workspace.NeedsLogin {
		return nil, hint.New(fmt.Errorf("integration %q needs a new login (its refresh token was rejected)", in.Alias), "run azkeep integration login "+in.Alias)
	}
	if in.Status == workspace.Offline {
		return nil, hint.New(fmt.Errorf("integration %q is not logged in", in.Alias), "run azkeep integration login "+in.Alias)
	}
	dir = workspace.CleanDir(dir)
	snap, err := prepareConfigDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && !errors.Is(err, errKeptOnDisk) {
			if rerr := snap.restore(); rerr != nil {
				err = errors.Join(err, fmt.Errorf("and restoring %s failed: %w", dir, rerr))
			}
		}
	}()

	// Step 1: refresh token, account and profile from the vault.
	rt, account, prof, err := m.vaultItems(ctx, in)
	if err != nil {
		return nil, err
	}
	sub, err := subscriptionOf(in, s, prof)
	if err != nil {
		return nil, err
	}

	// Recovery: a refresh token of this account resting in the dir was
	// left by a crash, or by a vault that refused step 7; either way it is
	// newer than the vault's (refresh tokens may be single-use), so it is
	// the one to redeem.
	vaultRT := rt
	if left, err := m.Files.TakeRefreshToken(dir, in.HomeAccountID); err == nil && len(left) > 0 && !sameJSON(left, rt) {
		rt = left
	}

	// Step 2: azureProfile.json holds this subscription alone, as default.
	only := w != nil && w.only
	if !only {
		if err := m.Files.WriteProfile(dir, in.Cloud.Name, sub); err != nil {
			return nil, fmt.Errorf("write azureProfile.json in %s: %w", dir, err)
		}
	}
	tenant := cmp.Or(s.TenantID, in.TenantID)
	var resources []string
	switch {
	case only:
		resources, tenant = w.extra, cmp.Or(w.tenant, tenant)
	case w != nil:
		resources = m.resources(in, w.extra...)
	default:
		resources = m.resources(in)
	}

	// Steps 3–8 are the engine's (engine.Engine.Redeem): it redeems the
	// refresh token handed to it, so the token never rests in dir, and
	// writes the account, access and id tokens into dir's cache in one
	// update.
	rotated := false
	var vaultErr error
	var refused []byte   // the token the vault refused
	var refusedAt string // where it was written ahead ("" if it was not)
	req := engine.Request{
		ConfigDir:      dir,
		Cloud:          in.Cloud,
		TenantID:       tenant,
		SubscriptionID: s.SubscriptionID,
		HomeAccountID:  in.HomeAccountID,
		Resources:      resources,
		ResourcesOnly:  only,
		Replace:        w != nil && w.replace,
		Subscription:   sub,
		Account:        account,
		RefreshToken:   rt,
		// Step 7: the endpoint may have rotated the refresh token; the
		// vault keeps the newest, before the engine writes dir. Once the
		// endpoint has answered, the token may be the only valid one
		// (single-use): its store is not cancelled with ctx. If it fails,
		// the engine writes the token into dir rather than lose it.
		Keep: func(newRT []byte) error {
			if sameJSON(newRT, vaultRT) {
				return nil
			}
			// Written ahead: until the vault has it, the rotated token
			// (the endpoint may already have spent the one it replaces)
			// also waits in the journal, which every command recovers
			// first, so a kill before the vault answers loses nothing.
			ahead, aheadErr := m.journalAhead(in.ID, newRT)
			vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fileTimeout)
			defer cancel()
			if vaultErr = m.Vault.Set(vctx, VaultKey(in.ID, itemRefreshToken), newRT); vaultErr != nil {
				refused = newRT
				if aheadErr == nil {
					refusedAt = ahead
				}
				return vaultErr
			}
			if aheadErr == nil {
				_ = os.Remove(ahead)
			}
			rotated = true
			return nil
		},
	}
	res, err := m.Engine.Redeem(ctx, req)
	if err != nil {
		switch {
		case vaultErr != nil:
			// err is vaultErr alone when the engine wrote the token into
			// dir (engine.Engine.Redeem), joined with the write's error
			// when it could not. The journal, which every command
			// recovers, takes it; only when the journal cannot be written
			// does the copy in dir stay, the only one.
			// journalPut's copy is on the disk for sure; the one
			// written ahead goes once it is, and stands in when it is not.
			path, jerr := m.journalPut(in.ID, refused)
			if refusedAt != "" {
				if jerr == nil {
					_ = os.Remove(refusedAt)
				} else {
					path, jerr = refusedAt, nil
				}
			}
			if jerr == nil || err != vaultErr {
				if jerr == nil && err == vaultErr {
					_, _ = m.Files.TakeRefreshToken(dir, in.HomeAccountID)
				}
				return nil, m.spillError(in, path, jerr, vaultErr)
			}
			return nil, hint.New(fmt.Errorf("store the rotated refresh token of %q in the vault (%s): %w: %w", in.Alias, m.Vault.Name(), err, errKeptOnDisk),
				"the new refresh token was left in "+dir+"; fix the vault and run azkeep session rotate --force")
		case azure.IsNeedsLogin(err):
			return nil, m.needsLogin(ctx, in, err)
		}
		return nil, fmt.Errorf("get an access token for %s (%s) with engine %s: %w", s.SubscriptionName, s.SubscriptionID, m.Engine.Name(), err)
	}

	// Step 6: the expiry is returned to the caller, who records it.
	out := &Materialized{Session: *s, Integration: *in, ConfigDir: dir, ExpiresAt: res.ExpiresOn, Rotated: rotated}

	// Step 9 (file part): the integration's default location.
	if only {
		return out, nil
	}
	if err := m.Files.SetLocation(dir, in.Location); err != nil {
		return nil, fmt.Errorf("write the default location in %s: %w", dir, err)
	}
	return out, nil
}

// subscriptionOf is s's entry in prof, in's profile item from the vault.
func subscriptionOf(in *workspace.Integration, s *workspace.Session, prof []byte) (json.RawMessage, error) {
	var pi profileItem
	if err := json.Unmarshal(prof, &pi); err != nil {
		return nil, hint.New(fmt.Errorf("the profile of integration %q in the vault is corrupt: %w", in.Alias, err), "run azkeep integration login "+in.Alias)
	}
	var sub json.RawMessage
	for _, raw := range pi.Subscriptions {
		var id struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &id) == nil && strings.EqualFold(id.ID, s.SubscriptionID) {
			sub = raw
		}
	}
	if sub == nil {
		return nil, hint.New(fmt.Errorf("subscription %s is not in the profile of integration %q", s.SubscriptionID, in.Alias), "run azkeep integration sync "+in.Alias)
	}
	return sub, nil
}

// errKeptOnDisk marks a failure after which the dir must not be restored:
// it holds a refresh token the vault refused, which may be the only copy.
var errKeptOnDisk = errors.New("refresh token kept on disk")

// prepareConfigDir creates the config dir dir (0700) when missing and
// snapshots its files, so that a failed start or rotation can put them back.
func prepareConfigDir(dir string) (*snapshot, error) {
	if err := os.MkdirAll(dir, fileutil.DirPerm); err != nil {
		return nil, fmt.Errorf("create config dir %s: %w", dir, err)
	}
	snap, err := takeSnapshot(dir)
	if err != nil {
		return nil, fmt.Errorf("read config dir %s: %w", dir, err)
	}
	return snap, nil
}

// rescueRefreshToken moves a refresh token of in's account found in dir
// into the vault when it differs from the vault's (it is the newer one).
func (m *Manager) rescueRefreshToken(ctx context.Context, in *workspace.Integration, dir string) {
	if in.HomeAccountID == "" {
		return
	}
	c, err := m.Files.TakeRefreshToken(dir, in.HomeAccountID)
	if err != nil || len(c) == 0 {
		return
	}
	if old, err := m.Vault.Get(ctx, VaultKey(in.ID, itemRefreshToken)); err == nil && sameJSON(old, c) {
		return
	}
	if err := m.Vault.Set(ctx, VaultKey(in.ID, itemRefreshToken), c); err != nil {
		fmt.Fprintf(m.errOut(), "azkeep: warning: could not rescue the refresh token of %q left in %s: %v\n", in.Alias, dir, err)
	}
}

// Start runs the seed's "start session" procedure in the target dir.
func (m *Manager) Start(ctx context.Context, query string) (*workspace.Session, error) {
	ctx, st, unlock, err := m.lockState(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s, in, err := m.resolve(st, query)
	if err != nil {
		return nil, err
	}
	target := m.target()
	// Before anything is redeemed or changed: az must read the token cache
	// where azkeep can write it (not an encrypted store azkeep cannot
	// reach), or the session would be reported active with az seeing none.
	if _, err := azconfig.CheckTokenCache(target); err != nil {
		return nil, err
	}
	snap, err := prepareConfigDir(target)
	if err != nil {
		return nil, err
	}
	ok, keptOnDisk := false, false
	defer func() {
		// A refresh token the vault refused was left in the dir on
		// purpose (it may be the only valid one): no restore then.
		if !ok && !keptOnDisk {
			_ = snap.restore()
		}
	}()

	// Step 0: one active session per target dir: stop the one there.
	prev := st.ActiveIn(target)
	var parkPrev *parking
	if prev != nil {
		// A refresh token the previous session left on disk (see the
		// recovery in materialize) is rescued to its vault before az
		// logout erases it.
		if pin := st.IntegrationByID(prev.IntegrationID); pin != nil {
			m.rescueRefreshToken(ctx, pin, target)
		}
		// Its access tokens, if still good, wait in the vault for its
		// next start (parked once this start has succeeded).
		if prev.ID != s.ID {
			parkPrev = m.parkable(prev, target)
		}
		// Its tokens are removed by the engine's write of this session's
		// (engine.Request.Replace), which writes each file once.
	} else if others, _ := m.Files.OtherLogins(target, in.HomeAccountID); len(others) > 0 {
		// A login of the user's own: not azkeep's to remove, but its
		// refresh token rests on disk, which is what azkeep is for.
		fmt.Fprintf(m.errOut(), "azkeep: warning: %s also holds an az login of its own (%s) with a refresh token on disk; azkeep leaves it alone\n", target, strings.Join(others, ", "))
		fmt.Fprintf(m.errOut(), "azkeep: hint: run az logout --username NAME (AZURE_CONFIG_DIR=%s) to remove it\n", target)
	}

	// While the start is in flight the session is "pending" (other
	// shells and the agent see it); a failure puts the status back.
	if s.Status != workspace.Active {
		if err := m.setStatus(ctx, s.ID, workspace.Pending); err != nil {
			return nil, err
		}
		defer func() {
			if !ok {
				_ = m.setStatus(ctx, s.ID, s.Status)
			}
		}()
	}

	// Steps 1–8 and the location of step 9.
	// Tokens parked when the session was last stopped serve it with no
	// token request; otherwise steps 1–8 and the location of step 9.
	mat, parked, err := m.unpark(ctx, in, s, target, prev != nil)
	if err != nil {
		return nil, err
	}
	if !parked {
		var w *wanted
		if prev != nil {
			w = &wanted{replace: true}
		}
		mat, err = m.materialize(ctx, in, s, target, false, w)
		if err != nil {
			keptOnDisk = errors.Is(err, errKeptOnDisk)
			return nil, err
		}
	}

	// Steps 6 and 9 (bookkeeping): expiry and start time recorded, the
	// previous session inactive, this one active in the target dir.
	var out workspace.Session
	err = m.WS.Update(ctx, func(st *workspace.State) error {
		if p := st.ActiveIn(target); p != nil {
			markInactive(p)
		}
		x := st.SessionByID(s.ID)
		if x == nil {
			return fmt.Errorf("session %s vanished during start", s.ID)
		}
		x.Status = workspace.Active
		x.ConfigDir = target
		x.StartedAt = m.now().UTC()
		x.ExpiresAt = mat.ExpiresAt.UTC()
		out = *x
		return nil
	})
	if err != nil {
		return nil, err
	}
	ok = true
	m.park(ctx, parkPrev)
	return &out, nil
}

// setStatus records a start in flight (pending) or puts the status back
// after a failed one: both hold only while Start runs, so not fsynced.
func (m *Manager) setStatus(ctx context.Context, id string, status workspace.SessionStatus) error {
	return m.WS.UpdateInFlight(ctx, func(st *workspace.State) error {
		if x := st.SessionByID(id); x != nil {
			x.Status = status
		}
		return nil
	})
}

func markInactive(s *workspace.Session) {
	s.Status = workspace.Inactive
	s.ConfigDir = ""
	s.StartedAt = time.Time{}
	s.ExpiresAt = time.Time{}
}

// RotateResult says what Rotate did.
type RotateResult struct {
	Session workspace.Session
	// Rotated is false when the token was not yet inside the window.
	Rotated bool
	// RefreshTokenRotated is true when the endpoint issued a new refresh
	// token (now in the vault).
	RefreshTokenRotated bool
	// NextRotation is when the session enters the window again.
	NextRotation time.Time
}

// Due reports whether an active session's access token expires within
// the window at now.
func (m *Manager) Due(s *workspace.Session, now time.Time) bool {
	return s.Status == workspace.Active && !now.Add(m.window()).Before(s.ExpiresAt)
}

// NextRotation is when s enters the rotation window.
func (m *Manager) NextRotation(s *workspace.Session) time.Time {
	if s.ExpiresAt.IsZero() {
		return time.Time{}
	}
	return s.ExpiresAt.Add(-m.window())
}

// Rotate runs the seed's "rotate session" procedure on query (the target
// dir's active session when query is ""): when the access token expires
// within the window, or force is set, drop the access token, put the
// refresh token back and redo start steps 6–9.
func (m *Manager) Rotate(ctx context.Context, query string, force bool) (*RotateResult, error) {
	ctx, st, unlock, err := m.lockState(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s, err := m.activeOrQuery(st, query)
	if err != nil {
		return nil, err
	}
	// An `az account set` to another session of the integration makes
	// that one the dir's active session (docs/procedures.md, rotate).
	if s, err = m.followDefault(ctx, st, s); err != nil {
		return nil, err
	}
	in := st.IntegrationByID(s.IntegrationID)
	if in == nil {
		return nil, fmt.Errorf("session %s belongs to no integration", s.ID)
	}
	if s.Status != workspace.Active {
		return nil, hint.New(fmt.Errorf("session %s (%s) is not active", s.ID, s.SubscriptionName), "start it with azkeep session start "+s.ID)
	}
	// Steps 1–3: the expiry, compared with now: outside the window the
	// current credentials stay.
	if !force && !m.Due(s, m.now()) {
		return &RotateResult{Session: *s, NextRotation: m.NextRotation(s)}, nil
	}
	if !dirExists(s.ConfigDir) {
		return nil, hint.New(fmt.Errorf("session %s is active in %s, which no longer exists", s.ID, s.ConfigDir), "start it again with azkeep session start "+s.ID)
	}
	// Step 4: remove the access token, put the refresh token back, redo
	// start steps 6–9.
	mat, err := m.materialize(ctx, in, s, s.ConfigDir, false, nil)
	if err != nil {
		return nil, err
	}
	var out workspace.Session
	err = m.WS.Update(ctx, func(st *workspace.State) error {
		x := st.SessionByID(s.ID)
		if x == nil {
			return fmt.Errorf("session %s vanished during rotation", s.ID)
		}
		x.ExpiresAt = mat.ExpiresAt.UTC()
		out = *x
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &RotateResult{Session: out, Rotated: true, RefreshTokenRotated: mat.Rotated, NextRotation: m.NextRotation(&out)}, nil
}

func (m *Manager) activeOrQuery(st *workspace.State, query string) (*workspace.Session, error) {
	if query != "" {
		return st.Session(query)
	}
	s := st.ActiveIn(m.target())
	if s == nil {
		return nil, hint.New(fmt.Errorf("no session is active in %s", m.target()), "name one, or start one with azkeep session start SESSION")
	}
	return s, nil
}

// Stop runs the seed's "stop session" procedure on query (the target dir's
// active session when query is ""): `az logout` in its dir, then inactive.
func (m *Manager) Stop(ctx context.Context, query string) (*workspace.Session, error) {
	ctx, st, unlock, err := m.lockState(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s, err := m.activeOrQuery(st, query)
	if err != nil {
		return nil, err
	}
	if s.Status == workspace.Inactive {
		return s, nil
	}
	// A stop is all or nothing: when the logout or its record fails, the
	// dir's files are put back, and the session stays active in both.
	var snap *snapshot
	if s.ConfigDir != "" && dirExists(s.ConfigDir) {
		if snap, err = takeSnapshot(s.ConfigDir); err != nil {
			return nil, fmt.Errorf("read config dir %s: %w", s.ConfigDir, err)
		}
	}
	undo := func(err error) error {
		if snap == nil {
			return err
		}
		if rerr := snap.restore(); rerr != nil {
			return errors.Join(err, fmt.Errorf("put %s back: %w", s.ConfigDir, rerr))
		}
		return err
	}
	// Its access tokens, if still good, wait in the vault for its next
	// start.
	var parked *parking
	if s.ConfigDir != "" {
		parked = m.parkable(s, s.ConfigDir)
	}
	// Step 1: az logout (clears the token cache and the profile) ...
	if err := m.logoutSession(ctx, s); err != nil {
		return nil, undo(err)
	}
	m.park(ctx, parked)
	// ... and the session is inactive.
	var out workspace.Session
	err = m.WS.Update(ctx, func(st *workspace.State) error {
		if x := st.SessionByID(s.ID); x != nil {
			markInactive(x)
			out = *x
		}
		return nil
	})
	if err != nil {
		return nil, undo(hint.New(fmt.Errorf("record the stop of session %s (%s): %w; it stays active", s.ID, s.SubscriptionName, err),
			"make sure "+m.WS.Dir()+" is writable, then run azkeep session stop again"))
	}
	return &out, nil
}

// logoutSession is `az logout` in the config dir s is active in (Stop,
// integration logout); a dir that is gone has nothing left to clear.
func (m *Manager) logoutSession(ctx context.Context, s *workspace.Session) error {
	if s.ConfigDir == "" || !dirExists(s.ConfigDir) {
		return nil
	}
	if err := m.Engine.Logout(ctx, s.ConfigDir); err != nil {
		return fmt.Errorf("stop session %s (%s) in %s: %w", s.ID, s.SubscriptionName, s.ConfigDir, err)
	}
	return nil
}

// Current returns the session active in the target dir, or nil.
func (m *Manager) Current() (*workspace.Session, error) {
	st, err := m.WS.Load()
	if err != nil {
		return nil, err
	}
	if s := st.ActiveIn(m.target()); s != nil {
		c := *s
		return &c, nil
	}
	return nil, nil
}

// LazyRotate rotates every active session inside the window. Every azkeep
// command calls it first, so rotation never depends on the agent running.
// It costs one read of the state file when nothing is due. The errors are
// for the caller to report as warnings: a command must still run (e.g.
// `integration login`, which fixes a rejected refresh token).
func (m *Manager) LazyRotate(ctx context.Context) ([]RotateResult, error) {
	st, err := m.WS.Load()
	if err != nil {
		return nil, err
	}
	if changed, err := m.FollowDefaults(ctx, st); err != nil {
		return nil, err
	} else if changed {
		if st, err = m.WS.Load(); err != nil {
			return nil, err
		}
	}
	now := m.now()
	var due []string
	for i := range st.Sessions {
		s := &st.Sessions[i]
		if m.Due(s, now) && s.ConfigDir != "" && dirExists(s.ConfigDir) {
			if in := st.IntegrationByID(s.IntegrationID); in != nil && in.Status == workspace.Online {
				due = append(due, s.ID)
			}
		}
	}
	var out []RotateResult
	var errs []error
	for _, id := range due {
		// Rotate re-checks under the lock: another process may have
		// rotated it meanwhile.
		r, err := m.Rotate(ctx, id, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if r.Rotated {
			out = append(out, *r)
		}
	}
	return out, errors.Join(errs...)
}

// sameJSON reports whether two vault items hold the same JSON.
func sameJSON(a, b []byte) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}
