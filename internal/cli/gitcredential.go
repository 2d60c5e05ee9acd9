package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/lifecycle"
)

// AzureDevOpsResource is Azure DevOps' application id, the audience of the
// Entra ID tokens it accepts as a git password.
const AzureDevOpsResource = "499b84ac-1321-427f-aa17-267ca6975798"

// GitCredentialOptions are the inputs of `git-credential`.
type GitCredentialOptions struct {
	IO      IO
	Token   func(context.Context, lifecycle.TokenRequest) (*lifecycle.Token, error)
	Session string
	// Hosts are more hosts to answer for (an Azure DevOps Server).
	Hosts  []string
	Action string
}

// NewCmdGitCredential builds `git-credential`.
func NewCmdGitCredential(f *Factory, runF func(context.Context, *GitCredentialOptions) error) *cobra.Command {
	opts := &GitCredentialOptions{IO: f.IO, Token: f.tokenFunc}
	cmd := &cobra.Command{
		Use:   "git-credential [SESSION] get|store|erase",
		Short: "Be git's credential helper for Azure DevOps",
		Long: `Speak git's credential-helper protocol for https://dev.azure.com and
https://*.visualstudio.com: "get" answers with an Entra ID access token of
SESSION for Azure DevOps (resource 499b84ac-1321-427f-aa17-267ca6975798) as
the password; "store" and "erase" do nothing (the token lives in the
session's cache). Other hosts get no answer, so git asks the next helper.

SESSION defaults as for "azkeep token".`,
		Example: `  git config --global credential.https://dev.azure.com.helper "azkeep git-credential prod"
  git config --global credential.https://dev.azure.com.useHttpPath true`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Action = args[len(args)-1]
			if len(args) == 2 {
				opts.Session = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return gitCredentialRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.Hosts, "host", nil, "also answer for this host, e.g. an Azure DevOps Server's (repeatable)")
	return cmd
}

// readCredential reads git's key=value lines up to a blank line or EOF.
func readCredential(r io.Reader) (map[string]string, error) {
	in := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			in[k] = v
		}
	}
	return in, sc.Err()
}

// devOpsHost reports whether host is Azure DevOps' (or one of extra).
func devOpsHost(host string, extra []string) bool {
	host = strings.ToLower(host)
	if host == "dev.azure.com" || strings.HasSuffix(host, ".visualstudio.com") {
		return true
	}
	for _, h := range extra {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

func gitCredentialRun(ctx context.Context, opts *GitCredentialOptions) error {
	in, err := readCredential(opts.IO.In)
	if err != nil {
		return err
	}
	// git ignores a helper's store and erase output; the token is not
	// ours to forget (the session's cache holds it until it expires).
	if opts.Action != "get" {
		return nil
	}
	if in["protocol"] != "https" || !devOpsHost(in["host"], opts.Hosts) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	tok, err := opts.Token(ctx, lifecycle.TokenRequest{Session: opts.Session, Scope: AzureDevOpsResource + "/.default"})
	if err != nil {
		return err
	}
	user := in["username"]
	if user == "" {
		user = "azkeep"
	}
	_, err = fmt.Fprintf(opts.IO.Out, "protocol=https\nhost=%s\nusername=%s\npassword=%s\n", in["host"], user, tok.AccessToken)
	return err
}
