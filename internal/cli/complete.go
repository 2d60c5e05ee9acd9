package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// wellKnownResources are the resources --resource most often names: the
// data planes an SDK or Terraform asks a token for besides ARM.
var wellKnownResources = []string{
	"https://vault.azure.net\tKey Vault",
	"https://storage.azure.com\tStorage",
	"https://database.windows.net\tAzure SQL",
	"https://graph.microsoft.com\tMicrosoft Graph",
	"https://ossrdbms-aad.database.windows.net\tPostgreSQL and MySQL",
	"https://management.core.windows.net/\tclassic ARM audience",
}

// addCompletions gives the command tree live completions: sessions and
// integrations from the state file (names and ids, described by their
// integration and status), vault backends, engines, output formats,
// shells and well-known resources. `azkeep completion bash|zsh|fish|
// powershell` writes the script that asks for them.
func addCompletions(root *cobra.Command, f *Factory) {
	sessions := f.completeFirst(completeSessions)
	integrations := f.completeFirst(completeIntegrations)
	byPath := map[string]cobra.CompletionFunc{
		"azkeep session start":      sessions,
		"azkeep session stop":       sessions,
		"azkeep session rotate":     sessions,
		"azkeep exec":               sessions,
		"azkeep env":                sessions,
		"azkeep portal":             sessions,
		"azkeep integration login":  integrations,
		"azkeep integration sync":   integrations,
		"azkeep integration logout": integrations,
		"azkeep integration delete": integrations,
		"azkeep integration edit":   integrations,
	}
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	_ = root.RegisterFlagCompletionFunc("vault", fixed(vault.Backends()...))
	_ = root.RegisterFlagCompletionFunc("engine", fixed("az\tazkeep runs az in its staging dir", "native\tazkeep redeems the token itself"))
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if fn, ok := byPath[c.CommandPath()]; ok {
			c.ValidArgsFunction = fn
		}
		flags := map[string]cobra.CompletionFunc{
			"output":   fixed("table", "json"),
			"shell":    fixed("bash", "zsh", "fish", "powershell"),
			"to":       fixed(vault.Backends()...),
			"resource": fixed(wellKnownResources...),
			"integration": func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
				return integrations(cmd, nil, toComplete)
			},
		}
		for name, fn := range flags {
			if c.Flags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, fn)
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeFirst completes the first positional argument with list on the
// state file; later ones (an exec's command) get the shell's own.
func (f *Factory) completeFirst(list func(*workspace.State, string) []string) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		// Completion skips the root's PersistentPreRunE: resolve here.
		if f.Globals.resolve() != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		st, err := f.pickState()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return list(st, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeSessions offers every session by subscription name and by id,
// described by its integration and status.
func completeSessions(st *workspace.State, prefix string) []string {
	alias := make(map[string]string, len(st.Integrations))
	for _, in := range st.Integrations {
		alias[in.ID] = in.Alias
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range st.Sessions {
		desc := alias[s.IntegrationID] + ", " + string(s.Status)
		if hasPrefixFold(s.SubscriptionName, prefix) && !seen[s.SubscriptionName] {
			seen[s.SubscriptionName] = true
			out = append(out, s.SubscriptionName+"\t"+desc)
		}
		if prefix != "" && hasPrefixFold(s.ID, prefix) {
			out = append(out, s.ID+"\t"+alias[s.IntegrationID]+"/"+s.SubscriptionName)
		}
	}
	return out
}

// completeIntegrations offers every integration by alias, described by its
// tenant and status.
func completeIntegrations(st *workspace.State, prefix string) []string {
	var out []string
	for _, in := range st.Integrations {
		if hasPrefixFold(in.Alias, prefix) {
			out = append(out, in.Alias+"\t"+in.Tenant+", "+string(in.Status))
		}
	}
	return out
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
