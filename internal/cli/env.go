package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// STUB: replaced by the owner of this command.
func newEnvCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:    "env",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("azkeep env is not implemented yet")
		},
	}
}
