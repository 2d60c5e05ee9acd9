package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

var (
	guidRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	})
	domainRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}$`)
	})
	aliasRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })
	locationRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]{2,40}$`) })
)

// IntegrationSpec is what the user says about an integration. Empty
// fields of an edit leave the current value.
type IntegrationSpec struct {
	Alias    string
	Tenant   string // tenant GUID or domain
	Location string // e.g. westeurope; "" for none
	// Cloud is the Azure cloud (azure.AzureCloud when zero).
	Cloud azure.Cloud
	// Resources are extra resources to prefetch tokens for.
	Resources []string
	// DefaultResources turns the default resources (DefaultResources) on
	// or off; nil leaves them as they are (on for a new integration).
	DefaultResources *bool
	// SkipResources are default resources to leave out; nil leaves the
	// list as it is.
	SkipResources []string
}

func checkAlias(a string) error {
	if !aliasRE().MatchString(a) {
		return hint.New(fmt.Errorf("alias %q is not valid", a), "use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

func checkTenant(t string) error {
	if guidRE().MatchString(t) || domainRE().MatchString(t) {
		return nil
	}
	return hint.New(fmt.Errorf("tenant %q is neither a tenant id (GUID) nor a domain", t), "pass --tenant 00000000-0000-0000-0000-000000000000 or --tenant contoso.onmicrosoft.com")
}

func checkLocation(l string) error {
	if l == "" || locationRE().MatchString(l) {
		return nil
	}
	return hint.New(fmt.Errorf("location %q is not an Azure location name", l), "use a name as `az account list-locations -o table` prints it, e.g. westeurope")
}

func checkResources(rs []string) error {
	for _, r := range rs {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return hint.New(fmt.Errorf("resource %q is not an https URL", r), "pass a resource as Azure names it, e.g. --resource https://vault.azure.net")
		}
	}
	return nil
}

// checkSpec checks what the user said about an integration, in the order
// alias, tenant, location, resources. For an edit, an empty alias or
// tenant means "keep the current one" and is not checked.
func checkSpec(spec IntegrationSpec, edit bool) error {
	if !edit || spec.Alias != "" {
		if err := checkAlias(spec.Alias); err != nil {
			return err
		}
	}
	if !edit || spec.Tenant != "" {
		if err := checkTenant(spec.Tenant); err != nil {
			return err
		}
	}
	if err := checkLocation(spec.Location); err != nil {
		return err
	}
	if err := checkResources(spec.Resources); err != nil {
		return err
	}
	return checkResources(spec.SkipResources)
}

// CreateIntegration adds an offline integration (no login yet).
func (m *Manager) CreateIntegration(ctx context.Context, spec IntegrationSpec) (*workspace.Integration, error) {
	spec.Tenant = strings.TrimSpace(spec.Tenant)
	if err := checkSpec(spec, false); err != nil {
		return nil, err
	}
	if spec.Cloud.Name == "" {
		spec.Cloud = azure.AzureCloud
	}
	var out workspace.Integration
	err := m.WS.Update(ctx, func(st *workspace.State) error {
		for _, in := range st.Integrations {
			if strings.EqualFold(in.Alias, spec.Alias) {
				return hint.New(fmt.Errorf("an integration named %q exists already", in.Alias), "pick another --alias, or change it with azkeep integration edit "+in.Alias)
			}
		}
		out = workspace.Integration{
			ID:        workspace.NewID(),
			Alias:     spec.Alias,
			Tenant:    spec.Tenant,
			Location:  spec.Location,
			Cloud:     spec.Cloud,
			Status:    workspace.Offline,
			Resources: spec.Resources,
			CreatedAt: m.now().UTC(),
			// Only a "no" is recorded: defaults on is the zero value.
			NoDefaultResources: spec.DefaultResources != nil && !*spec.DefaultResources,
			SkipResources:      spec.SkipResources,
		}
		if guidRE().MatchString(spec.Tenant) {
			out.TenantID = strings.ToLower(spec.Tenant)
		}
		st.Integrations = append(st.Integrations, out)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// EditIntegration changes an integration's alias, tenant or location. The
// tenant of a logged-in integration cannot change: its secrets and
// sessions belong to the old tenant.
func (m *Manager) EditIntegration(ctx context.Context, name string, spec IntegrationSpec) (*workspace.Integration, error) {
	spec.Tenant = strings.TrimSpace(spec.Tenant)
	if err := checkSpec(spec, true); err != nil {
		return nil, err
	}
	var out workspace.Integration
	err := m.WS.Update(ctx, func(st *workspace.State) error {
		in, err := st.Integration(name)
		if err != nil {
			return err
		}
		if spec.Alias != "" && !strings.EqualFold(spec.Alias, in.Alias) {
			for _, o := range st.Integrations {
				if strings.EqualFold(o.Alias, spec.Alias) {
					return hint.New(fmt.Errorf("an integration named %q exists already", o.Alias), "pick another alias")
				}
			}
		}
		if spec.Tenant != "" && !strings.EqualFold(spec.Tenant, in.Tenant) {
			if in.Status != workspace.Offline || len(st.SessionsOf(in.ID)) > 0 {
				return hint.New(fmt.Errorf("integration %q is logged in to tenant %s", in.Alias, in.Tenant), "run azkeep integration logout "+in.Alias+" first, then edit the tenant and log in again")
			}
			in.Tenant = spec.Tenant
			in.TenantID = ""
			if guidRE().MatchString(spec.Tenant) {
				in.TenantID = strings.ToLower(spec.Tenant)
			}
		}
		if spec.Alias != "" {
			in.Alias = spec.Alias
		}
		if spec.Location != "" {
			in.Location = spec.Location
		}
		if spec.Resources != nil {
			in.Resources = spec.Resources
		}
		if spec.DefaultResources != nil {
			in.NoDefaultResources = !*spec.DefaultResources
		}
		if spec.SkipResources != nil {
			in.SkipResources = spec.SkipResources
		}
		out = *in
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// LoginOptions tune Login.
type LoginOptions struct {
	// DeviceCode logs in with a device code instead of a browser.
	DeviceCode bool
}

// LoginReport says what a login changed.
type LoginReport struct {
	Integration workspace.Integration
	Sync        workspace.SyncResult
	// Sessions are the integration's sessions after the sync.
	Sessions []workspace.Session
}

// Login runs the seed's "login integration" procedure and re-syncs the
// integration's sessions. Sync is the same procedure: re-reading the
// subscriptions needs the fresh profile a login writes.
func (m *Manager) Login(ctx context.Context, name string, opts LoginOptions) (*LoginReport, error) {
	st, err := m.WS.Load()
	if err != nil {
		return nil, err
	}
	in0, err := st.Integration(name)
	if err != nil {
		return nil, err
	}
	in := *in0

	// Before anything is asked of the user: a vault that cannot take the
	// refresh token (no D-Bus session, no passphrase to give) would waste
	// the whole sign-in at step 4.
	if err := vault.Check(ctx, m.Vault); err != nil {
		return nil, fmt.Errorf("the vault (%s) cannot keep the login of integration %q: %w", m.Vault.Name(), in.Alias, err)
	}

	// Step 1: a fresh private config dir (0700) with copies of the
	// target's config and clouds.config. It is clean by construction (the
	// seed's "files are cleaned"), and the target dir, with whatever
	// session is active there, is not touched.
	loginDir, release, err := m.newLoginDir()
	if err != nil {
		return nil, err
	}
	// Step 5: remove the private dir; nothing of the login stays on disk
	// outside the vault and the state file.
	defer release()

	// Step 2: `az login --tenant T` in that dir; its prompts (browser or
	// device code) reach the user's terminal; no timeout, ctx cancels.
	err = m.AZ.Login(ctx, LoginRequest{
		ConfigDir: loginDir, Tenant: in.Tenant, DeviceCode: opts.DeviceCode,
		In: m.IO.In, Out: m.IO.Out, Err: m.IO.Err,
	})
	if err != nil {
		return nil, fmt.Errorf("az login to tenant %s for integration %q: %w", in.Tenant, in.Alias, err)
	}

	// Step 3 (read): the profile's subscriptions of this tenant.
	ld, err := m.Files.ReadLogin(loginDir)
	if err != nil {
		return nil, fmt.Errorf("read what az login wrote: %w", err)
	}
	if len(ld.RefreshToken) == 0 {
		return nil, errors.New("az left no account or refresh token in the token cache")
	}
	ctx, unlock, err := m.lockOps(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := m.recoverInFlight(ctx); err != nil {
		return nil, err
	}
	// Steps 3 (sync) and 4.
	return m.storeLogin(ctx, &in, ld)
}

// storeLogin is login steps 3–4 once az has signed in (or refreshed) in a
// private dir: the tenant's subscriptions become sessions, and refresh
// token, account and profile go into the vault. The caller holds the
// procedures' lock.
func (m *Manager) storeLogin(ctx context.Context, in *workspace.Integration, ld *LoginData) (*LoginReport, error) {
	if in.TenantID != "" && ld.TenantID != "" && !strings.EqualFold(in.TenantID, ld.TenantID) {
		return nil, hint.New(fmt.Errorf("az logged in to tenant %s, but integration %q is for tenant %s", ld.TenantID, in.Alias, in.TenantID), "check --tenant with azkeep integration edit "+in.Alias)
	}
	tenantID := strings.ToLower(ld.TenantID)
	var subs []workspace.Subscription
	var raws []json.RawMessage
	for _, s := range ld.Subscriptions {
		if tenantID != "" && !strings.EqualFold(s.TenantID, tenantID) {
			continue // another tenant reached by the same account
		}
		subs = append(subs, workspace.Subscription{ID: s.ID, Name: s.Name, TenantID: strings.ToLower(s.TenantID)})
		raws = append(raws, s.Raw)
	}
	profile, err := json.Marshal(profileItem{Subscriptions: raws})
	if err != nil {
		return nil, err
	}
	if len(ld.Account) == 0 {
		return nil, errors.New("az left no account or refresh token in the token cache")
	}

	// Step 4: refresh token, account and profile into the vault (a sync
	// has stored the refresh token already: ld.RefreshToken is nil).
	for _, it := range []struct {
		item string
		data []byte
	}{{itemRefreshToken, ld.RefreshToken}, {itemAccount, ld.Account}, {itemProfile, profile}} {
		if len(it.data) == 0 {
			continue
		}
		if err := m.Vault.Set(ctx, VaultKey(in.ID, it.item), it.data); err != nil {
			return nil, fmt.Errorf("store the %s of integration %q in the vault (%s): %w", it.item, in.Alias, m.Vault.Name(), err)
		}
	}

	// Step 3 (sync): every subscription is a session; renamed ones keep
	// their id, vanished ones are stopped and removed, new ones added.
	rep := &LoginReport{}
	err = m.WS.Update(ctx, func(st *workspace.State) error {
		x := st.IntegrationByID(in.ID)
		if x == nil {
			return fmt.Errorf("integration %q was deleted during the login", in.Alias)
		}
		x.TenantID = tenantID
		x.Username = ld.Username
		x.HomeAccountID = ld.HomeAccountID
		x.Status = workspace.Online
		x.LoggedInAt = m.now().UTC()
		rep.Sync = st.SyncSessions(in.ID, subs)
		rep.Integration = *x
		for _, s := range st.SessionsOf(in.ID) {
			rep.Sessions = append(rep.Sessions, *s)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, s := range rep.Sync.Removed {
		if s.Status == workspace.Active && s.ConfigDir != "" && dirExists(s.ConfigDir) {
			if err := m.Engine.Logout(ctx, s.ConfigDir); err != nil {
				fmt.Fprintf(m.errOut(), "azkeep: warning: subscription %s is gone but stopping it in %s failed: %v\n", s.SubscriptionID, s.ConfigDir, err)
			}
		}
	}
	return rep, nil
}

// Sync re-reads the integration's subscriptions without a new login: in a
// fresh private dir (login step 1) the vault's account and refresh token
// and one known subscription are written, `az account list --refresh`
// lists the tenant's subscriptions again, and login steps 3–5 follow with
// what it wrote (the refresh token it rotated included). A rejected
// refresh token marks the integration needs-login, as on start.
//
// Only a list that came from ARM changes the sessions: when its refresh
// fails (network down, token endpoint or ARM answering an error, user
// revoked) az still exits 0 and keeps the profile it found, which holds
// the one subscription written here; taken as the truth it would remove
// every other session. The subscription is written under a marker name
// that only ARM's answer replaces, so a profile still holding it makes
// Sync fail and change nothing (but the rotated refresh token is kept).
func (m *Manager) Sync(ctx context.Context, name string) (_ *LoginReport, err error) {
	if m.Refresher == nil {
		return nil, hint.New(errors.New("this engine cannot re-read subscriptions without a login"), "run azkeep integration login "+name)
	}
	ctx, st, unlock, err := m.lockState(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	in0, err := st.Integration(name)
	if err != nil {
		return nil, err
	}
	in := *in0
	if in.Status != workspace.Online {
		return nil, hint.New(fmt.Errorf("integration %q is %s", in.Alias, in.Status), "run azkeep integration login "+in.Alias)
	}

	// Step 1: a fresh private dir, removed at the end (step 5).
	dir, release, err := m.newLoginDir()
	if err != nil {
		return nil, err
	}
	defer release()
	rt, account, prof, err := m.vaultItems(ctx, &in)
	if err != nil {
		return nil, err
	}
	var pi profileItem
	if err := json.Unmarshal(prof, &pi); err != nil || len(pi.Subscriptions) == 0 {
		// az refreshes the accounts named in the profile: with none, only
		// a login can find subscriptions.
		return nil, hint.New(fmt.Errorf("integration %q knows no subscription to refresh from", in.Alias), "run azkeep integration login "+in.Alias)
	}
	marked, marker, err := markSubscription(pi.Subscriptions[0])
	if err != nil {
		return nil, hint.New(fmt.Errorf("the profile of integration %q in the vault is corrupt: %w", in.Alias, err), "run azkeep integration login "+in.Alias)
	}
	if err := m.Files.WriteProfile(dir, in.Cloud.Name, marked); err != nil {
		return nil, err
	}
	if err := m.Files.PutCredentials(dir, account, rt); err != nil {
		return nil, err
	}

	// Step 2 without interaction: az redeems the refresh token and lists
	// the subscriptions again. Whatever follows, a refresh token az
	// rotated meanwhile is the only valid one: it goes to the vault
	// before the dir is removed.
	warning, err := m.Refresher.RefreshSubscriptions(ctx, dir)
	if kerr := m.keepRefreshToken(ctx, &in, dir, rt); kerr != nil {
		return nil, errors.Join(err, kerr)
	}
	if err != nil {
		if azure.IsNeedsLogin(err) {
			return nil, m.needsLogin(ctx, &in, err)
		}
		return nil, fmt.Errorf("re-read the subscriptions of %q: %w", in.Alias, err)
	}

	// Steps 3–4, from ARM's list only.
	ld, err := m.Files.ReadLogin(dir)
	if err != nil {
		return nil, fmt.Errorf("read what az wrote: %w", err)
	}
	if err := fromARM(ld, marker, in.TenantID, warning); err != nil {
		return nil, hint.New(fmt.Errorf("re-read the subscriptions of %q: %w; nothing changed", in.Alias, err),
			"check the network and run azkeep integration sync "+in.Alias+" again; if the login was revoked or expired, run azkeep integration login "+in.Alias)
	}
	ld.RefreshToken = nil // kept above; storeLogin stores the vault's
	return m.storeLogin(ctx, &in, ld)
}

// markSubscription returns the subscription with its name replaced by a
// fresh marker, which az replaces only with what ARM answers.
func markSubscription(raw json.RawMessage) (json.RawMessage, string, error) {
	var sub map[string]any
	if err := json.Unmarshal(raw, &sub); err != nil {
		return nil, "", err
	}
	marker := "azkeep: not refreshed " + workspace.NewID()
	sub["name"] = marker
	out, err := json.Marshal(sub)
	return out, marker, err
}

// fromARM checks that the profile az left after `az account list
// --refresh` is ARM's answer: the marker gone, and the tenant's
// subscriptions in it (an empty list for the tenant is a failure too: a
// sync never removes every session). warning is what az printed.
func fromARM(ld *LoginData, marker, tenantID, warning string) error {
	why := "az kept its cached list"
	if warning != "" {
		why += ": " + warning
	}
	n := 0
	for _, s := range ld.Subscriptions {
		if s.Name == marker {
			return errors.New("az could not reach Azure (" + why + ")")
		}
		if tenantID == "" || strings.EqualFold(s.TenantID, tenantID) {
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("azure listed no subscription of tenant %s (%s)", tenantID, why)
	}
	return nil
}

// keepRefreshToken moves a refresh token of in's account that az left in
// dir into the vault when it differs from vaultRT, the one written there:
// az rotated it, and single-use tokens make it the only valid one.
func (m *Manager) keepRefreshToken(ctx context.Context, in *workspace.Integration, dir string, vaultRT []byte) error {
	left, err := m.Files.TakeRefreshToken(dir, in.HomeAccountID)
	if err != nil || len(left) == 0 || sameJSON(left, vaultRT) {
		return nil
	}
	vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fileTimeout)
	defer cancel()
	if err := m.Vault.Set(vctx, VaultKey(in.ID, itemRefreshToken), left); err != nil {
		return m.spill(in, left, err)
	}
	return nil
}

const loginDirPrefix = "login-"

// newLoginDir is login step 1 for Login and Sync alike: a fresh private
// dir (0700) in AZKEEP_HOME with copies of the target's config and
// clouds.config, whose owner lock this process holds (a dir whose owner
// is gone is Recover's). The caller calls release (step 5: the dir is
// removed); on error nothing is left.
func (m *Manager) newLoginDir() (dir string, release func(), err error) {
	dir, err = os.MkdirTemp(m.WS.Dir(), loginDirPrefix)
	if err != nil {
		return "", nil, fmt.Errorf("create a private login dir: %w", err)
	}
	unlock, ok := fileutil.TryLock(filepath.Join(dir, ownerLock))
	if !ok {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("lock the private login dir %s", dir)
	}
	release = func() {
		_ = os.RemoveAll(dir)
		_ = unlock()
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		release()
		return "", nil, err
	}
	if err := m.Files.LoginDirConfig(dir, m.target()); err != nil {
		release()
		return "", nil, fmt.Errorf("prepare the private login dir: %w", err)
	}
	return dir, release, nil
}

// Logout stops the integration's active sessions, deletes its vault items
// and its sessions, and marks it offline.
func (m *Manager) Logout(ctx context.Context, name string) (*workspace.Integration, error) {
	ctx, st, unlock, err := m.lockState(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	in, err := st.Integration(name)
	if err != nil {
		return nil, err
	}
	for _, s := range st.SessionsOf(in.ID) {
		if s.Status == workspace.Inactive {
			continue
		}
		if err := m.logoutSession(ctx, s); err != nil {
			return nil, err
		}
	}
	// The seed's three items, and any tokens parked by a stop.
	for _, k := range append(VaultKeys(in.ID), VaultKey(in.ID, itemParked)) {
		if err := m.Vault.Delete(ctx, k); err != nil {
			return nil, fmt.Errorf("delete %s from the vault (%s): %w", k, m.Vault.Name(), err)
		}
	}
	var out workspace.Integration
	err = m.WS.Update(ctx, func(st *workspace.State) error {
		x := st.IntegrationByID(in.ID)
		if x == nil {
			return nil
		}
		st.RemoveSessions(func(s *workspace.Session) bool { return s.IntegrationID == in.ID })
		x.Status = workspace.Offline
		out = *x
		return nil
	})
	return &out, err
}

// Delete logs the integration out and removes it.
func (m *Manager) Delete(ctx context.Context, name string) error {
	in, err := m.Logout(ctx, name)
	if err != nil {
		return err
	}
	return m.WS.Update(ctx, func(st *workspace.State) error {
		st.RemoveIntegration(in.ID)
		return nil
	})
}
