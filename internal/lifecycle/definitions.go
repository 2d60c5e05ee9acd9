package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

// DefinitionsVersion is the version of the integration definitions file
// this azkeep writes and reads.
const DefinitionsVersion = 1

// Definitions is the integration definitions file a team shares (in a git
// repository, say): what each integration is, never a secret, a username
// or a session.
//
//	{"azkeep_integrations": 1,
//	 "integrations": [{"alias": "contoso", "tenant": "contoso.onmicrosoft.com",
//	   "location": "westeurope", "resources": ["https://vault.azure.net"],
//	   "cloud": {"name": "AzureCloud", …}}]}
type Definitions struct {
	Version      int          `json:"azkeep_integrations"`
	Integrations []Definition `json:"integrations"`
}

// Definition is one integration of a definitions file.
type Definition struct {
	Alias string `json:"alias"`
	// Tenant is the tenant id (GUID) or domain, as the integration was
	// created with.
	Tenant string `json:"tenant"`
	// Location is the default location; "" leaves a member's own.
	Location string `json:"location,omitempty"`
	// Resources are the extra resources; an import sets them as listed.
	Resources []string `json:"resources"`
	// Cloud is the Azure cloud (azure.AzureCloud when absent).
	Cloud *azure.Cloud `json:"cloud,omitempty"`
}

// ExportDefinitions returns the definitions of the named integrations (all
// when names is empty), in the state's order.
func ExportDefinitions(st *workspace.State, names []string) (*Definitions, error) {
	d := &Definitions{Version: DefinitionsVersion, Integrations: []Definition{}}
	want := map[string]bool{}
	for _, n := range names {
		in, err := st.Integration(n)
		if err != nil {
			return nil, err
		}
		want[in.ID] = true
	}
	for _, in := range st.Integrations {
		if len(names) > 0 && !want[in.ID] {
			continue
		}
		cloud := fullCloud(in.Cloud)
		res := in.Resources
		if res == nil {
			res = []string{}
		}
		d.Integrations = append(d.Integrations, Definition{Alias: in.Alias, Tenant: in.Tenant, Location: in.Location, Resources: res, Cloud: &cloud})
	}
	return d, nil
}

// ParseDefinitions reads a definitions file and checks every definition,
// so an import changes nothing unless all of it is good.
func ParseDefinitions(data []byte) (*Definitions, error) {
	const fix = "export one with azkeep integration export > integrations.json"
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, hint.New(fmt.Errorf("not an azkeep integrations file: %v", err), fix)
	}
	if _, ok := probe["azkeep_integrations"]; !ok {
		return nil, hint.New(errors.New("not an azkeep integrations file: it has no \"azkeep_integrations\" version"), fix)
	}
	var d Definitions
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		return nil, hint.New(fmt.Errorf("azkeep integrations file: %v", err), fix)
	}
	if d.Version != DefinitionsVersion {
		return nil, hint.New(fmt.Errorf("azkeep integrations file version %d: this azkeep reads version %d", d.Version, DefinitionsVersion), "upgrade azkeep, or export the file again with this one")
	}
	seen := map[string]bool{}
	for i, def := range d.Integrations {
		if err := CheckSpec(def.spec()); err != nil {
			return nil, fmt.Errorf("integration %d of the file: %w", i+1, err)
		}
		if def.Cloud != nil && def.Cloud.Name == "" {
			return nil, fmt.Errorf("integration %q of the file: its cloud has no name", def.Alias)
		}
		if seen[strings.ToLower(def.Alias)] {
			return nil, hint.New(fmt.Errorf("the file names integration %q twice", def.Alias), "keep one definition per alias")
		}
		seen[strings.ToLower(def.Alias)] = true
	}
	return &d, nil
}

func (def Definition) spec() IntegrationSpec {
	s := IntegrationSpec{Alias: def.Alias, Tenant: def.Tenant, Location: def.Location, Resources: def.Resources}
	if def.Cloud != nil {
		s.Cloud = fullCloud(*def.Cloud)
	}
	return s
}

// fullCloud fills in the public cloud's endpoints where only its name is
// given (or nothing), as a hand-written file may.
func fullCloud(c azure.Cloud) azure.Cloud {
	if c.Name == "" || (c.Name == azure.AzureCloud.Name && c.AuthorityHost == "" && c.ARMEndpoint == "" && c.ARMResource == "") {
		return azure.AzureCloud
	}
	return c
}

// DefinitionAction is what an import does with one integration.
type DefinitionAction string

// Definition actions.
const (
	DefCreate    DefinitionAction = "create"
	DefUpdate    DefinitionAction = "update"
	DefUnchanged DefinitionAction = "unchanged"
	DefDelete    DefinitionAction = "delete"
	// DefSkip: a change the file asks for that azkeep will not make (see
	// Note), e.g. a new tenant for a logged-in integration.
	DefSkip DefinitionAction = "skip"
)

// DefinitionChange is one line of an import's plan.
type DefinitionChange struct {
	Action DefinitionAction `json:"action"`
	Alias  string           `json:"alias"`
	Tenant string           `json:"tenant"`
	// Changes name the fields an update changes.
	Changes []string `json:"changes,omitempty"`
	Note    string   `json:"note,omitempty"`

	spec IntegrationSpec
}

// PlanDefinitions compares the file with the state: new aliases are
// created, differing ones updated; with prune, integrations the file does
// not name are deleted. It changes nothing.
func PlanDefinitions(st *workspace.State, d *Definitions, prune bool) []DefinitionChange {
	out := []DefinitionChange{}
	named := map[string]bool{}
	for _, def := range d.Integrations {
		spec := def.spec()
		c := DefinitionChange{Alias: def.Alias, Tenant: def.Tenant}
		in := FindIntegration(st, def.Alias)
		if in == nil {
			c.Action, c.spec = DefCreate, spec
			out = append(out, c)
			continue
		}
		named[in.ID] = true
		c.Alias = in.Alias
		edit := IntegrationSpec{}
		if !strings.EqualFold(strings.TrimSpace(def.Tenant), in.Tenant) {
			if in.Status != workspace.Offline || len(st.SessionsOf(in.ID)) > 0 {
				c.Action, c.Note = DefSkip, fmt.Sprintf("logged in to tenant %s; log out first to take tenant %s", in.Tenant, def.Tenant)
				out = append(out, c)
				continue
			}
			edit.Tenant, c.Changes = def.Tenant, append(c.Changes, "tenant")
		}
		if def.Location != "" && def.Location != in.Location {
			edit.Location, c.Changes = def.Location, append(c.Changes, "location")
		}
		if !slices.Equal(def.Resources, in.Resources) && !(len(def.Resources) == 0 && len(in.Resources) == 0) {
			edit.Resources, c.Changes = append([]string{}, def.Resources...), append(c.Changes, "resources")
		}
		if def.Cloud != nil && fullCloud(*def.Cloud) != fullCloud(in.Cloud) {
			c.Note = fmt.Sprintf("cloud %s differs from the file's %s: delete and re-import it to change it", in.Cloud.Name, def.Cloud.Name)
		}
		c.Action, c.spec = DefUnchanged, edit
		if len(c.Changes) > 0 {
			c.Action = DefUpdate
		}
		out = append(out, c)
	}
	if prune {
		for _, in := range st.Integrations {
			if !named[in.ID] {
				out = append(out, DefinitionChange{Action: DefDelete, Alias: in.Alias, Tenant: in.Tenant})
			}
		}
	}
	return out
}

// ApplyDefinitions carries a plan out: creates, edits, and deletes (a
// deletion logs the integration out first: its sessions are stopped and
// its vault items deleted).
func (m *Manager) ApplyDefinitions(ctx context.Context, plan []DefinitionChange) error {
	for _, c := range plan {
		var err error
		switch c.Action {
		case DefCreate:
			_, err = m.CreateIntegration(ctx, c.spec)
		case DefUpdate:
			_, err = m.EditIntegration(ctx, c.Alias, c.spec)
		case DefDelete:
			err = m.Delete(ctx, c.Alias)
		}
		if err != nil {
			return fmt.Errorf("%s integration %s: %w", c.Action, c.Alias, err)
		}
	}
	return nil
}

// Changed says whether a plan changes anything.
func Changed(plan []DefinitionChange) bool {
	return slices.ContainsFunc(plan, func(c DefinitionChange) bool {
		return c.Action == DefCreate || c.Action == DefUpdate || c.Action == DefDelete
	})
}

// FindIntegration is the integration with alias (any case), or nil;
// unlike State.Integration it never matches an id.
func FindIntegration(st *workspace.State, alias string) *workspace.Integration {
	for i := range st.Integrations {
		if strings.EqualFold(st.Integrations[i].Alias, alias) {
			return &st.Integrations[i]
		}
	}
	return nil
}
