package lifecycle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

// TokenMinValidity is how long a cached access token must still be valid
// to be served: MSAL (and so every SDK) treats a token with less than 5
// minutes left as expired, and a client may hold it for a while.
const TokenMinValidity = 10 * time.Minute

// TokenRequest asks for one access token of a session (azkeep token, the
// managed-identity endpoint, kubectl and git credentials, the az shim).
type TokenRequest struct {
	// Session names the session; "" is the one active in the target dir.
	Session string
	// Scope is one ".default" scope, e.g.
	// "https://management.azure.com/.default".
	Scope string
	// Tenant is the tenant to get it from; "" is the session's.
	Tenant string
	// Dir is the config dir whose token cache serves and keeps the token,
	// read by a child at any moment (an exec's per-session dir, under
	// ScratchBase). "" is the session's own: the dir it is active in, else
	// a dir of azkeep's for it.
	Dir, ScratchBase string
}

// Token is one access token, with what `az account get-access-token`
// prints beside it.
type Token struct {
	AccessToken    string
	ExpiresOn      time.Time
	SubscriptionID string
	TenantID       string
}

// ScopeResource is the resource of a ".default" scope, as az's
// scopes_to_resource turns it back ("https://management.core.windows.net//.default"
// gives "https://management.core.windows.net/").
func ScopeResource(scope string) (string, error) {
	res, ok := strings.CutSuffix(strings.TrimSpace(scope), "/.default")
	if !ok || res == "" || strings.ContainsAny(res, " \t") {
		return "", hint.New(fmt.Errorf("scope %q is not a resource's .default scope", scope), "pass --resource R or --scope R/.default, e.g. https://management.azure.com/.default")
	}
	return res, nil
}

// Token returns an access token of the session for req.Scope: from the
// session's token cache while it is valid for TokenMinValidity more,
// else from one refresh grant for that scope alone, through the engine
// like any redemption (the rotated refresh token reaches the vault before
// the token reaches the cache).
func (m *Manager) Token(ctx context.Context, req TokenRequest) (*Token, error) {
	resource, err := ScopeResource(req.Scope)
	if err != nil {
		return nil, err
	}
	st, err := m.WS.Load()
	if err != nil {
		return nil, err
	}
	s, err := m.activeOrQuery(st, req.Session)
	if err != nil {
		return nil, err
	}
	in := st.IntegrationByID(s.IntegrationID)
	if in == nil {
		return nil, fmt.Errorf("session %s belongs to no integration (state file edited by hand?)", s.ID)
	}
	dir := cmp.Or(req.Dir, s.ConfigDir)
	if dir == "" || !dirExists(dir) {
		dir = m.tokenDir(s)
	}
	tenant := cmp.Or(req.Tenant, s.TenantID, in.TenantID)
	tok := &Token{SubscriptionID: s.SubscriptionID, TenantID: tenant}
	// lookup finds a token valid for minValid more.
	lookup := func(minValid time.Duration) bool {
		c, err := azconfig.LoadTokenCache(dir)
		if err != nil {
			return false
		}
		at, ok := c.AccessTokenFor(in.HomeAccountID, tenant, req.Scope)
		if !ok {
			return false
		}
		exp, err := at.ExpiresAt()
		if err != nil || exp.Sub(m.now()) < minValid {
			return false
		}
		tok.AccessToken, tok.ExpiresOn = at.Secret, exp
		return true
	}
	if lookup(TokenMinValidity) {
		return tok, nil
	}
	w := &wanted{extra: []string{resource}, only: true, tenant: tenant}
	// Twice at most: a renewal of an exec's dir between the redemption and
	// the read replaces the dir's cache with its own copy.
	for try := 0; try < 2; try++ {
		if req.Dir != "" {
			_, err = m.materializeInto(ctx, s.ID, dir, req.ScratchBase, w)
		} else {
			err = m.tokenInPlace(ctx, s.ID, dir, w, func() bool { return lookup(TokenMinValidity) })
		}
		if err != nil {
			return nil, err
		}
		// A token just redeemed is the freshest there is, even where the
		// tenant issues tokens shorter-lived than TokenMinValidity.
		if lookup(time.Nanosecond) {
			return tok, nil
		}
	}
	return nil, errors.New("no access token for " + req.Scope + " after redeeming")
}

// tokenInPlace redeems w into dir, a dir no child reads through a copy
// (the session's active dir, where az takes the cache's lock, or azkeep's
// token dir), unless another process did it meanwhile.
func (m *Manager) tokenInPlace(ctx context.Context, id, dir string, w *wanted, done func() bool) error {
	ctx, st, unlock, err := m.lockState(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if done() {
		return nil
	}
	s, in, err := m.resolve(st, id)
	if err != nil {
		return err
	}
	// A refresh token the vault refuses is journaled rather than left in
	// azkeep's token dir; the session's active dir keeps it, as a start does.
	_, err = m.materialize(ctx, in, s, dir, dir == m.tokenDir(s), w)
	return err
}

// tokenDir is where the access tokens of a session that is active nowhere
// are kept for azkeep token: a config dir of azkeep's own, holding access
// tokens and no refresh token, like any other.
func (m *Manager) tokenDir(s *workspace.Session) string {
	return filepath.Join(m.WS.Dir(), "tokens", s.ID)
}
