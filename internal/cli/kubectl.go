package cli

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/lifecycle"
)

// AKSServerID is the application id of the AKS AAD server, the audience of
// the tokens an AKS cluster with Entra ID integration accepts (kubelogin's
// default --server-id).
const AKSServerID = "6dae42f8-4368-4678-94ff-3960e28e3630"

// KubectlCredentialOptions are the inputs of `kubectl-credential`.
type KubectlCredentialOptions struct {
	IO       IO
	Token    func(context.Context, lifecycle.TokenRequest) (*lifecycle.Token, error)
	Session  string
	ServerID string
	// ExecInfo is $KUBERNETES_EXEC_INFO, where kubectl says which
	// ExecCredential version it wants.
	ExecInfo string
}

// NewCmdKubectlCredential builds `kubectl-credential`.
func NewCmdKubectlCredential(f *Factory, runF func(context.Context, *KubectlCredentialOptions) error) *cobra.Command {
	opts := &KubectlCredentialOptions{IO: f.IO, Token: f.tokenFunc}
	cmd := &cobra.Command{
		Use:   "kubectl-credential [SESSION] [--server-id ID]",
		Short: "Print a kubectl ExecCredential for an AKS cluster",
		Long: `Print a Kubernetes ExecCredential holding an access token of SESSION for the
AKS server application (default 6dae42f8-4368-4678-94ff-3960e28e3630), for a
kubeconfig user's exec credential plugin; "azkeep kubeconfig convert" writes
such users. The version is the one kubectl asks for in KUBERNETES_EXEC_INFO
(client.authentication.k8s.io/v1, or v1beta1).

SESSION defaults as for "azkeep token". Tokens come from the session's cache
while valid.`,
		Example: `  azkeep kubectl-credential prod
  # in a kubeconfig user:
  #   exec:
  #     apiVersion: client.authentication.k8s.io/v1beta1
  #     command: azkeep
  #     args: [kubectl-credential, prod]`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Session = args[0]
			}
			opts.ExecInfo = os.Getenv("KUBERNETES_EXEC_INFO")
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return kubectlCredentialRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.ServerID, "server-id", AKSServerID, "application id of the cluster's AAD server")
	return cmd
}

// execCredential is client.authentication.k8s.io's ExecCredential.
type execCredential struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Spec       struct {
		Interactive bool `json:"interactive"`
	} `json:"spec"`
	Status struct {
		ExpirationTimestamp string `json:"expirationTimestamp"`
		Token               string `json:"token"`
	} `json:"status"`
}

func kubectlCredentialRun(ctx context.Context, opts *KubectlCredentialOptions) error {
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	tok, err := opts.Token(ctx, lifecycle.TokenRequest{Session: opts.Session, Scope: opts.ServerID + "/.default"})
	if err != nil {
		return err
	}
	var out execCredential
	out.Kind, out.APIVersion = "ExecCredential", "client.authentication.k8s.io/v1"
	var info struct {
		APIVersion string `json:"apiVersion"`
	}
	if json.Unmarshal([]byte(opts.ExecInfo), &info) == nil && info.APIVersion == "client.authentication.k8s.io/v1beta1" {
		out.APIVersion = info.APIVersion
	}
	out.Status.Token = tok.AccessToken
	out.Status.ExpirationTimestamp = tok.ExpiresOn.UTC().Format(time.RFC3339)
	return json.NewEncoder(opts.IO.Out).Encode(out)
}
