package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

// --- output ---------------------------------------------------------------

// outputFlag adds --output table|json to cmd.
func outputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", "table", "output format: table or json (stable fields, see --help)")
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return &usageError{hint.New(fmt.Errorf("unknown output format %q", o), "use --output table or --output json")}
	}
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
