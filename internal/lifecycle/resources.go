package lifecycle

import (
	"strings"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/workspace"
)

// DefaultResources are the resources whose access tokens a session carries
// besides the seed's ARM token, fetched at start and at every rotation:
// the ones clients ask for most, so that az serves them from its cache
// (with no refresh token on disk it can serve nothing else).
//
//   - ARM under its second audience: the JS and Python SDKs ask for
//     "https://management.azure.com/.default", where az, Terraform and Go
//     ask for the seed's "https://management.core.windows.net//.default".
//   - Key Vault, Microsoft Graph and Storage (public cloud only: the other
//     clouds name them differently).
//
// Each is written as az's --resource takes it, without a trailing slash,
// so that its scope is "<resource>/.default", the scope the SDKs send.
func DefaultResources(c azure.Cloud) []string {
	var out []string
	if arm := strings.TrimRight(c.ARMEndpoint, "/"); arm != "" {
		out = append(out, arm)
	}
	if c.Name == "" || c.Name == azure.AzureCloud.Name {
		out = append(out, "https://vault.azure.net", "https://graph.microsoft.com", "https://storage.azure.com")
	}
	return out
}

// Resources are the resources start and rotation fetch for in besides
// ARM: the defaults (unless turned off, less the skipped ones), then the
// integration's own, then extra, each once.
func Resources(in *workspace.Integration, extra ...string) []string {
	var all []string
	if !in.NoDefaultResources {
		cloud := in.Cloud
		if cloud.Name == "" {
			cloud = azure.AzureCloud
		}
		all = DefaultResources(cloud)
	}
	all = append(append(all, in.Resources...), extra...)
	seen := map[string]bool{}
	for _, r := range in.SkipResources {
		seen[resourceKey(r)] = true
	}
	var out []string
	for _, r := range all {
		if k := resourceKey(r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// resources is Resources less the defaults when m fetches them on demand
// (OnDemandDefaults).
func (m *Manager) resources(in *workspace.Integration, extra ...string) []string {
	if m.OnDemandDefaults && !in.NoDefaultResources {
		x := *in
		x.NoDefaultResources = true
		in = &x
	}
	return Resources(in, extra...)
}

// resourceKey compares resources case-insensitively, as Entra ID and az's
// cache lookup do. A trailing slash makes another scope
// ("…windows.net//.default"), so it counts.
func resourceKey(r string) string { return strings.ToLower(r) }
