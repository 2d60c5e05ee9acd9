package leapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// Service is the keytar service name of all of Leapp's items
// (leapp-core's constants.appName).
const Service = "Leapp"

// Keychain reads Leapp's keytar items by account name; vault.Keytar with
// Service in production. A missing item is an error wrapping
// vault.ErrNotFound.
type Keychain interface {
	Get(ctx context.Context, account string) ([]byte, error)
}

// The keytar accounts of an Azure integration's items, as leapp-core's
// AzurePersistenceService names them. Each holds JSON: the profile is
// azureProfile.json's object; account and refresh token are one entry of
// the MSAL token cache as a [key, value] pair.
func profileItem(id string) string      { return "azure-integration-profile-" + id }
func accountItem(id string) string      { return "azure-integration-account-" + id }
func refreshTokenItem(id string) string { return "azure-integration-refresh-token-" + id }

// Action is what an import does with one of Leapp's Azure integrations.
type Action string

// Actions.
const (
	// Create: a new integration, logged in with Leapp's credentials.
	Create Action = "create"
	// CreateOffline: a new integration without credentials (Leapp's
	// keychain holds none, or cannot be read); it needs a login.
	CreateOffline Action = "create-offline"
	// Login: the integration exists offline in azkeep and is logged in
	// with Leapp's credentials.
	Login Action = "login"
	// Unchanged: the integration exists in azkeep; it is left as it is
	// (its own, possibly newer, refresh token included).
	Unchanged Action = "unchanged"
	// Skip: the integration cannot be imported (see Note).
	Skip Action = "skip"
)

// Step is the import of one of Leapp's Azure integrations.
type Step struct {
	Action Action `json:"action"`
	// Alias is the azkeep integration's alias; LeappAlias Leapp's, which
	// may hold characters azkeep's aliases do not.
	Alias      string `json:"alias"`
	LeappAlias string `json:"leapp_alias"`
	LeappID    string `json:"leapp_id"`
	Tenant     string `json:"tenant"`
	Location   string `json:"location,omitempty"`
	// Sessions counts the integration's Azure sessions in Leapp; after an
	// import that logged it in, the sessions azkeep made for them.
	Sessions int `json:"sessions"`
	// Username is the signed-in account, when Leapp's credentials moved.
	Username string `json:"username,omitempty"`
	Note     string `json:"note,omitempty"`

	adoption *lifecycle.Adoption
}

// Skipped is one of Leapp's sessions the import leaves behind.
type Skipped struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

// Plan is what an import does: built by NewPlan without changing anything,
// carried out by Apply.
type Plan struct {
	Dir          string    `json:"dir"`
	Version      int       `json:"workspace_version"`
	Integrations []Step    `json:"integrations"`
	Skipped      []Skipped `json:"skipped"`
	// Changed says whether Apply changed (or would change) azkeep's state.
	Changed bool `json:"changed"`
}

// NewPlan maps Leapp's workspace (read from dir) onto azkeep's state st,
// reading Leapp's credentials from kc; it changes nothing.
func NewPlan(ctx context.Context, dir string, ws *Workspace, st *workspace.State, kc Keychain) *Plan {
	p := &Plan{Dir: dir, Version: ws.Version, Integrations: []Step{}, Skipped: []Skipped{}}
	known := map[string]bool{}
	taken := map[string]string{} // lower-case alias → Leapp id
	for _, li := range ws.AzureIntegrations {
		known[li.ID] = true
		s := Step{LeappAlias: li.Alias, LeappID: li.ID, Tenant: strings.TrimSpace(li.TenantID), Location: strings.ToLower(strings.TrimSpace(li.Region))}
		s.Alias = aliasFor(li, taken)
		subs := subscriptionIDs(ws.SessionsOf(li.ID))
		s.Sessions = len(subs)

		if err := lifecycle.CheckSpec(lifecycle.IntegrationSpec{Alias: s.Alias, Tenant: s.Tenant}); err != nil {
			s.Action, s.Note = Skip, err.Error()
			p.Integrations = append(p.Integrations, s)
			continue
		}
		if lifecycle.CheckSpec(lifecycle.IntegrationSpec{Alias: s.Alias, Tenant: s.Tenant, Location: s.Location}) != nil {
			s.Note = fmt.Sprintf("location %q dropped: not an Azure location name", s.Location)
			s.Location = ""
		}
		adoption, why := credentials(ctx, kc, li, subs)
		s.adoption = adoption

		existing := lifecycle.FindIntegration(st, s.Alias)
		switch {
		case existing != nil && !sameTenant(existing, s.Tenant):
			s.Action, s.Note = Skip, fmt.Sprintf("azkeep's integration %s is for tenant %s", existing.Alias, existing.Tenant)
		case existing != nil && existing.Status == workspace.Offline && adoption != nil:
			s.Action = Login
		case existing != nil:
			s.Action = Unchanged
			s.Sessions = len(st.SessionsOf(existing.ID))
		case adoption != nil:
			s.Action = Create
		default:
			s.Action = CreateOffline
			s.Note = joinNote(s.Note, why+"; log in with: azkeep integration login "+s.Alias)
		}
		if s.Action == Create || s.Action == CreateOffline || s.Action == Login {
			p.Changed = true
		}
		p.Integrations = append(p.Integrations, s)
	}
	for _, ls := range ws.Sessions {
		switch {
		case ls.Type != SessionTypeAzure:
			p.Skipped = append(p.Skipped, Skipped{Name: ls.Name, Type: ls.Type, Reason: "not an Azure session: azkeep manages Azure only"})
		case !known[ls.AzureIntegrationID]:
			p.Skipped = append(p.Skipped, Skipped{Name: ls.Name, Type: ls.Type, Reason: "its Azure integration is not in Leapp's workspace"})
		}
	}
	return p
}

// Apply carries the plan out through the lifecycle: each integration is
// created, then logged in with Leapp's credentials (login steps 3–4: the
// vault items and one session per subscription). A login that fails leaves
// the integration offline with a warning in its note.
func (p *Plan) Apply(ctx context.Context, m *lifecycle.Manager) error {
	for i := range p.Integrations {
		s := &p.Integrations[i]
		switch s.Action {
		case Create, CreateOffline:
			if _, err := m.CreateIntegration(ctx, lifecycle.IntegrationSpec{Alias: s.Alias, Tenant: s.Tenant, Location: s.Location}); err != nil {
				return fmt.Errorf("create integration %s from Leapp's %q: %w", s.Alias, s.LeappAlias, err)
			}
		case Login:
		default:
			continue
		}
		if s.adoption == nil {
			continue
		}
		rep, err := m.Adopt(ctx, s.Alias, *s.adoption)
		if err != nil {
			if s.Action == Create {
				s.Action = CreateOffline
			}
			s.Note = joinNote(s.Note, fmt.Sprintf("Leapp's credentials did not move (%v); log in with: azkeep integration login %s", err, s.Alias))
			continue
		}
		s.Username = rep.Integration.Username
		s.Sessions = len(rep.Sessions)
	}
	return nil
}

// credentials reads the integration's three items from Leapp's keychain
// and turns them into what az's own files would hold. With none it says
// why, for the user's hint.
func credentials(ctx context.Context, kc Keychain, li AzureIntegration, subs []string) (*lifecycle.Adoption, string) {
	if kc == nil {
		return nil, "Leapp's keychain was not read"
	}
	var raw [3][]byte
	for i, name := range []string{profileItem(li.ID), accountItem(li.ID), refreshTokenItem(li.ID)} {
		v, err := kc.Get(ctx, name)
		if errors.Is(err, vault.ErrNotFound) {
			if li.IsOnline {
				return nil, "Leapp's keychain holds no credentials for it"
			}
			return nil, "it is logged out in Leapp"
		}
		if err != nil {
			return nil, fmt.Sprintf("Leapp's keychain cannot be read (%v)", err)
		}
		raw[i] = v
	}
	var account, rt [2]json.RawMessage
	if json.Unmarshal(raw[1], &account) != nil || json.Unmarshal(raw[2], &rt) != nil || !json.Valid(raw[0]) {
		return nil, "Leapp's keychain items are not as Leapp 0.1.x writes them"
	}
	var akey, rkey string
	if json.Unmarshal(account[0], &akey) != nil || json.Unmarshal(rt[0], &rkey) != nil {
		return nil, "Leapp's keychain items are not as Leapp 0.1.x writes them"
	}
	cache, err := json.Marshal(map[string]map[string]json.RawMessage{
		"Account":      {akey: account[1]},
		"RefreshToken": {rkey: rt[1]},
	})
	if err != nil {
		return nil, err.Error()
	}
	if len(subs) == 0 {
		subs = nil // no Leapp session to map: every subscription of the tenant
	}
	return &lifecycle.Adoption{TokenCache: cache, Profile: raw[0], Subscriptions: subs}, ""
}

var notAlias = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Za-z0-9._-]+`) })

// aliasFor maps a Leapp alias, which may be any text, onto azkeep's alias
// rules: other characters become "-", and the result is cut to 64. The
// mapping is fixed, so a second import finds what the first created; two
// Leapp aliases mapping to one get the second's Leapp id appended.
func aliasFor(li AzureIntegration, taken map[string]string) string {
	a := strings.Trim(notAlias().ReplaceAllString(strings.TrimSpace(li.Alias), "-"), "-._")
	if a == "" {
		a = "leapp"
	}
	if len(a) > 64 {
		a = a[:64]
	}
	if other, ok := taken[strings.ToLower(a)]; ok && other != li.ID {
		suffix := "-" + strings.ReplaceAll(li.ID, "-", "")
		if len(suffix) > 9 {
			suffix = suffix[:9]
		}
		if len(a)+len(suffix) > 64 {
			a = a[:64-len(suffix)]
		}
		a += suffix
	}
	taken[strings.ToLower(a)] = li.ID
	return a
}

func subscriptionIDs(ss []Session) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s.SubscriptionID != "" {
			out = append(out, s.SubscriptionID)
		}
	}
	return out
}

func sameTenant(in *workspace.Integration, tenant string) bool {
	return strings.EqualFold(in.Tenant, tenant) || strings.EqualFold(in.TenantID, tenant)
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
