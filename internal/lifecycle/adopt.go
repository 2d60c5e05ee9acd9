package lifecycle

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/azkeep/azkeep/internal/azconfig"
)

// Adoption is a login another tool made and kept (Leapp, on an import):
// the Azure CLI's files as that login left them, reduced to what the vault
// keeps.
type Adoption struct {
	// TokenCache is msal_token_cache.json content holding the account
	// and its refresh token.
	TokenCache []byte
	// Profile is azureProfile.json content with the login's
	// subscriptions.
	Profile []byte
	// Subscriptions, when not nil, are the only subscription ids that
	// become sessions.
	Subscriptions []string
}

// Adopt logs the integration in with credentials another tool's login
// left, without a new sign-in: login steps 3–4 on them, as after `az
// login`. It replaces the integration's vault items, so callers adopt only
// into an integration that holds none (offline).
func (m *Manager) Adopt(ctx context.Context, name string, a Adoption) (*LoginReport, error) {
	cache, err := azconfig.ParseTokenCache(a.TokenCache)
	if err != nil {
		return nil, err
	}
	prof, err := azconfig.ParseProfile(a.Profile)
	if err != nil {
		return nil, err
	}
	ld, err := loginData(cache, prof)
	if err != nil {
		return nil, err
	}
	if a.Subscriptions != nil {
		ld.Subscriptions = slices.DeleteFunc(ld.Subscriptions, func(s Subscription) bool {
			return !slices.ContainsFunc(a.Subscriptions, func(id string) bool { return strings.EqualFold(id, s.ID) })
		})
	}
	ctx, st, unlock, err := m.lockState(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	in, err := st.Integration(name)
	if err != nil {
		return nil, err
	}
	rep, err := m.storeLogin(ctx, in, ld)
	if err != nil {
		return nil, fmt.Errorf("adopt the login of integration %q: %w", in.Alias, err)
	}
	return rep, nil
}

// CheckSpec checks a new integration's alias, tenant, location and
// resources as CreateIntegration does, for callers that plan several
// before creating any (imports).
func CheckSpec(spec IntegrationSpec) error {
	spec.Tenant = strings.TrimSpace(spec.Tenant)
	return checkSpec(spec, false)
}
