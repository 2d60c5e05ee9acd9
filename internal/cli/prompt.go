package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/tui"
	"github.com/azkeep/azkeep/internal/workspace"
)

// PromptOptions are the inputs of `prompt`.
type PromptOptions struct {
	IO         IO
	State      func() (*workspace.State, error)
	ConfigDir  func() string
	SessionEnv string
	Now        func() time.Time
}

// NewCmdPrompt builds `prompt`. It runs no lazy rotation and opens no
// vault: a shell runs it on every prompt, so it reads the state file and
// nothing else.
func NewCmdPrompt(f *Factory, runF func(context.Context, *PromptOptions) error) *cobra.Command {
	opts := &PromptOptions{
		IO: f.IO, Now: time.Now,
		State: func() (*workspace.State, error) {
			ws, err := f.Workspace()
			if err != nil {
				return nil, err
			}
			return ws.Load()
		},
		ConfigDir: func() string { return f.Globals.ConfigDir },
	}
	cmd := &cobra.Command{
		Use:   "prompt",
		Short: "Print a short segment for the shell prompt: integration/subscription and time left",
		Long: `Print one short segment naming the session az uses right now, for PS1,
starship or oh-my-posh: "contoso/prod 42m" (the integration, the
subscription and the access token's time left; "expired" once it is).
Inside "azkeep exec" or a shell set up by "azkeep env" it is the session
AZKEEP_SESSION names. Nothing is printed when no session is in use.

It reads azkeep's state file only: no vault, no network, no rotation. See
docs/prompt.md for bash, zsh, fish and starship.`,
		Example: `  PS1='$(azkeep prompt) \$ '        # bash`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.SessionEnv = os.Getenv(SessionEnv)
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return promptRun(opts)
		},
	}
	return cmd
}

func promptRun(opts *PromptOptions) error {
	st, err := opts.State()
	if err != nil {
		return err
	}
	u := sessionInUse(st, opts.SessionEnv, opts.ConfigDir())
	if u == nil {
		return nil
	}
	seg := u.Integration.Alias + "/" + u.Session.SubscriptionName
	if !u.ExpiresAt.IsZero() {
		seg += " " + tui.TimeLeft(u.ExpiresAt, opts.Now())
	}
	_, err = fmt.Fprintln(opts.IO.Out, seg)
	return err
}
