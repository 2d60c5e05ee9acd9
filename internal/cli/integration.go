package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// STUB: replaced by the owner of this command.
func newIntegrationCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:    "integration",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("azkeep integration is not implemented yet")
		},
	}
}
