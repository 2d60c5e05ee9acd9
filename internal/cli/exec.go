package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// STUB: replaced by the owner of this command.
func newExecCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:    "exec",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("azkeep exec is not implemented yet")
		},
	}
}
