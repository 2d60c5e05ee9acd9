package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/workspace"
)

// --- output ---------------------------------------------------------------

// outputFlag adds --output table|json to cmd. Another value is refused
// while the flags are parsed, as a usage error, before anything runs.
func outputFlag(cmd *cobra.Command, p *string) {
	*p = "table"
	cmd.Flags().VarP((*outputValue)(p), "output", "o", "output format: table or json (stable fields, see --help)")
}

// outputValue is the --output flag's value: table or json.
type outputValue string

func (o *outputValue) String() string { return string(*o) }
func (o *outputValue) Type() string   { return "string" }

func (o *outputValue) Set(s string) error {
	if s != "table" && s != "json" {
		return fmt.Errorf("unknown output format %q: use --output table or --output json", s)
	}
	*o = outputValue(s)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// IntegrationView is the stable JSON shape of an integration
// (`azkeep integration list --output json`).
type IntegrationView struct {
	ID       string `json:"id"`
	Alias    string `json:"alias"`
	Tenant   string `json:"tenant"`
	TenantID string `json:"tenant_id,omitempty"`
	Location string `json:"location,omitempty"`
	Cloud    string `json:"cloud"`
	// Status is online, offline or needs-login.
	Status   string `json:"status"`
	Username string `json:"username,omitempty"`
	Sessions int    `json:"sessions"`
}

func integrationView(st *workspace.State, in *workspace.Integration) IntegrationView {
	return IntegrationView{
		ID: in.ID, Alias: in.Alias, Tenant: in.Tenant, TenantID: in.TenantID, Location: in.Location,
		Cloud: in.Cloud.Name, Status: string(in.Status), Username: in.Username, Sessions: len(st.SessionsOf(in.ID)),
	}
}
