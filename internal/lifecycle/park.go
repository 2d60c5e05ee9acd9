package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/workspace"
)

// Switching back to a session whose access tokens are still good needs no
// request to Entra: when a session is stopped, or switched away from, with
// more than the rotation window left, its access and id tokens (never a
// refresh token) go to the vault, and its next start writes them back.
// On a real network that is the difference between a round trip and
// TLS handshake to Entra and none.

// itemParked is the integration's vault item of parked tokens.
const itemParked = "parked-tokens"

// MaxParked bounds the sessions an integration's parked item holds (the
// most recently parked first), and so the item's size.
const MaxParked = 4

// parkedItem is the parked-tokens item: per session, the tokens it had.
type parkedItem struct {
	Sessions []parkedSession `json:"sessions"`
}

type parkedSession struct {
	SessionID string    `json:"session_id"`
	ParkedAt  time.Time `json:"parked_at"`
	// ExpiresAt is the ARM access token's expiry, as the session recorded.
	ExpiresAt time.Time `json:"expires_at"`
	// Cache is a token-cache fragment: access and id tokens alone.
	Cache json.RawMessage `json:"cache"`
}

// parking is a session's tokens on their way to the vault.
type parking struct {
	in    *workspace.Integration
	entry parkedSession
}

// parkable reads the access and id tokens s has in dir, when they are
// worth keeping (more than the rotation window left): nil otherwise. The
// caller parks them once the stop or switch they belong to succeeded.
func (m *Manager) parkable(s *workspace.Session, dir string) *parking {
	now := m.now()
	if s.ExpiresAt.Sub(now) <= m.window() {
		return nil
	}
	in, err := m.integrationOf(s)
	if err != nil || in.HomeAccountID == "" {
		return nil
	}
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		return nil
	}
	frag := &azconfig.TokenCache{}
	for k, at := range c.AccessTokens.All() {
		if strings.EqualFold(at.HomeAccountID, in.HomeAccountID) {
			frag.AccessTokens.Put(k, at)
		}
	}
	for k, id := range c.IDTokens.All() {
		if strings.EqualFold(id.HomeAccountID, in.HomeAccountID) {
			frag.IDTokens.Put(k, id)
		}
	}
	if frag.AccessTokens.Len() == 0 {
		return nil
	}
	data, err := frag.Marshal()
	if err != nil {
		return nil
	}
	return &parking{in: in, entry: parkedSession{SessionID: s.ID, ParkedAt: now.UTC(), ExpiresAt: s.ExpiresAt.UTC(), Cache: data}}
}

// park adds p to its integration's parked item, with the other sessions
// parked there that are still good, at most MaxParked, newest first. It
// never fails the stop or switch it follows: a token not parked is only
// fetched again next time.
func (m *Manager) park(ctx context.Context, p *parking) {
	if p == nil {
		return
	}
	var item parkedItem
	key := VaultKey(p.in.ID, itemParked)
	old, read := m.parkedRead[key]
	if !read && m.vaultHolds(ctx, key) {
		old, _ = m.Vault.Get(ctx, key)
	}
	_ = json.Unmarshal(old, &item)
	// Switching back and forth among the same sessions parks the tokens
	// that are parked already: no write then (a Secret Service write is
	// the slowest part of a switch).
	for _, x := range item.Sessions {
		if x.SessionID == p.entry.SessionID && x.ExpiresAt.Equal(p.entry.ExpiresAt) {
			return
		}
	}
	keep := []parkedSession{p.entry}
	for _, x := range item.Sessions {
		if x.SessionID != p.entry.SessionID && x.ExpiresAt.Sub(m.now()) > m.window() && len(keep) < MaxParked {
			keep = append(keep, x)
		}
	}
	out, err := json.Marshal(parkedItem{Sessions: keep})
	if err != nil {
		return
	}
	if err := m.Vault.Set(ctx, key, out); err != nil {
		fmt.Fprintf(m.errOut(), "azkeep: warning: could not keep the access tokens of session %s in the vault: %v\n", p.entry.SessionID, err)
	}
}

// integrationOf is the integration of s, from the state on disk.
func (m *Manager) integrationOf(s *workspace.Session) (*workspace.Integration, error) {
	st, err := m.WS.Load()
	if err != nil {
		return nil, err
	}
	in := st.IntegrationByID(s.IntegrationID)
	if in == nil {
		return nil, errors.New("no integration")
	}
	return in, nil
}

// unpark starts s in dir from the tokens parked for it, when they have
// more than the rotation window left: the profile, the account and the
// tokens written as a start would write them, with no token request and
// the refresh token left in the vault. ok is false when there is nothing
// to unpark (then nothing was written).
func (m *Manager) unpark(ctx context.Context, in *workspace.Integration, s *workspace.Session, dir string, replace bool) (_ *Materialized, ok bool, err error) {
	key := VaultKey(in.ID, itemParked)
	if !m.vaultHolds(ctx, key) {
		return nil, false, nil
	}
	data, err := m.Vault.Get(ctx, key)
	if err != nil {
		return nil, false, nil
	}
	if m.parkedRead == nil {
		m.parkedRead = map[string][]byte{}
	}
	m.parkedRead[key] = data // for park, if this start parks a session of in
	var item parkedItem
	if json.Unmarshal(data, &item) != nil {
		return nil, false, nil
	}
	var p *parkedSession
	for i := range item.Sessions {
		if item.Sessions[i].SessionID == s.ID && item.Sessions[i].ExpiresAt.Sub(m.now()) > m.window() {
			p = &item.Sessions[i]
		}
	}
	if p == nil {
		return nil, false, nil
	}
	frag, err := azconfig.ParseTokenCache(p.Cache)
	if err != nil || frag.AccessTokens.Len() == 0 {
		return nil, false, nil
	}
	for _, at := range frag.AccessTokens.All() {
		if !strings.EqualFold(at.HomeAccountID, in.HomeAccountID) {
			return nil, false, nil // parked before a login as someone else
		}
	}
	account, err := m.vaultGet(ctx, in, itemAccount)
	if err != nil {
		return nil, false, err
	}
	af, err := azconfig.ParseTokenCache(account)
	if err != nil {
		return nil, false, fmt.Errorf("account from the vault: %w", err)
	}
	prof, err := m.vaultGet(ctx, in, itemProfile)
	if err != nil {
		return nil, false, err
	}
	sub, err := subscriptionOf(in, s, prof)
	if err != nil {
		return nil, false, err
	}
	if err := m.Files.WriteProfile(dir, in.Cloud.Name, sub); err != nil {
		return nil, false, fmt.Errorf("write azureProfile.json in %s: %w", dir, err)
	}
	err = azconfig.UpdateTokenCache(ctx, dir, func(c *azconfig.TokenCache) error {
		if replace {
			c.RemoveAll()
		}
		c.AdoptAccounts(af)
		for k, at := range frag.AccessTokens.All() {
			c.AccessTokens.Put(k, at)
		}
		for k, id := range frag.IDTokens.All() {
			c.IDTokens.Put(k, id)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if replace {
		if err := engine.RemoveServicePrincipals(dir); err != nil {
			return nil, false, err
		}
	}
	if err := m.Files.SetLocation(dir, in.Location); err != nil {
		return nil, false, fmt.Errorf("write the default location in %s: %w", dir, err)
	}
	return &Materialized{Session: *s, Integration: *in, ConfigDir: dir, ExpiresAt: p.ExpiresAt}, true, nil
}

// vaultHolds reports whether the vault's index lists key: a local read,
// where a Get is a round trip to the Secret Service or a gpg run. An index
// a crash left behind the vault only costs a Get that finds nothing, or a
// token request a parked item would have saved.
func (m *Manager) vaultHolds(ctx context.Context, key string) bool {
	items, err := m.Vault.List(ctx)
	if err != nil {
		return true // ask the vault itself
	}
	for _, it := range items {
		if it.Key == key {
			return true
		}
	}
	return false
}
