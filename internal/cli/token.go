package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
)

// TokenOptions are the inputs of `token`.
type TokenOptions struct {
	IO IO
	// Token gets one access token (lifecycle.Manager.Token, with the
	// session's dir picked from the environment: see tokenFunc).
	Token    func(context.Context, lifecycle.TokenRequest) (*lifecycle.Token, error)
	Session  string
	Resource string
	Scope    string
	Tenant   string
	Output   string
}

// NewCmdToken builds `token`.
func NewCmdToken(f *Factory, runF func(context.Context, *TokenOptions) error) *cobra.Command {
	opts := &TokenOptions{IO: f.IO, Token: f.tokenFunc}
	cmd := &cobra.Command{
		Use:   "token [SESSION] [--resource R | --scope S] [--tenant T]",
		Short: "Print an access token of a session, as az account get-access-token does",
		Long: `Print an access token of SESSION for any resource, in the JSON that
"az account get-access-token" prints (accessToken, expiresOn, expires_on,
subscription, tenant, tokenType).

SESSION defaults to the session of the azkeep exec or env shell this runs in
(AZKEEP_SESSION), else the one active in the Azure CLI's config dir. The
resource defaults to ARM. A token the session's cache holds and that is valid
for 10 more minutes is printed as it is; otherwise azkeep redeems the
session's refresh token once, for this scope alone (the rotated refresh token
goes to the vault first), and caches the answer: in the dir the session is
active in (so az serves it too), in the exec's own dir, or in azkeep's home.`,
		Example: `  azkeep token
  azkeep token prod --resource https://vault.azure.net
  azkeep token --scope https://graph.microsoft.com/.default
  curl -H "Authorization: Bearer $(azkeep token -o tsv)" https://management.azure.com/subscriptions?api-version=2022-12-01`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Session = args[0]
			}
			if opts.Resource != "" && opts.Scope != "" {
				return &usageError{hint.New(errors.New("--resource and --scope exclude each other"), "pass one of them")}
			}
			if opts.Output != "json" && opts.Output != "tsv" {
				return &usageError{hint.New(fmt.Errorf("unknown output format %q", opts.Output), "use --output json or --output tsv (the token alone)")}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return tokenRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Resource, "resource", "", "resource to get a token for (default ARM), e.g. https://vault.azure.net")
	fl.StringVar(&opts.Scope, "scope", "", "scope to get a token for, e.g. https://graph.microsoft.com/.default")
	fl.StringVar(&opts.Tenant, "tenant", "", "tenant to get the token from (default the session's)")
	fl.StringVarP(&opts.Output, "output", "o", "json", "output format: json (as az prints it) or tsv (the token alone)")
	return cmd
}

// defaultTokenScope is the scope az asks for by default: the ARM resource's.
const defaultTokenScope = "https://management.core.windows.net//.default"

func tokenRun(ctx context.Context, opts *TokenOptions) error {
	scope := opts.Scope
	switch {
	case opts.Resource != "":
		scope = opts.Resource + "/.default" // az's resource_to_scopes
	case scope == "":
		scope = defaultTokenScope
	}
	tok, err := opts.Token(ctx, lifecycle.TokenRequest{Session: opts.Session, Scope: scope, Tenant: opts.Tenant})
	if err != nil {
		return err
	}
	if opts.Output == "tsv" {
		_, err = fmt.Fprintln(opts.IO.Out, tok.AccessToken)
		return err
	}
	return writeAZToken(opts.IO.Out, tok, opts.Tenant != "")
}

// azToken is `az account get-access-token`'s output. The fields are in the
// order az prints them (knack sorts the keys); az omits the subscription
// when --tenant is given.
type azToken struct {
	AccessToken  string `json:"accessToken"`
	ExpiresOn    string `json:"expiresOn"`
	ExpiresOnTS  int64  `json:"expires_on"`
	Subscription string `json:"subscription,omitempty"`
	Tenant       string `json:"tenant"`
	TokenType    string `json:"tokenType"`
}

// writeAZToken prints tok as az does: indented by 2, expiresOn in local
// time with microseconds (Python's "%Y-%m-%d %H:%M:%S.%f"), and
// expires_on in epoch seconds (az 2.54 and later; earlier ones print
// expiresOn alone, which every SDK reads).
func writeAZToken(w io.Writer, tok *lifecycle.Token, tenantGiven bool) error {
	data, err := json.MarshalIndent(newAZToken(tok, tenantGiven), "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// newAZToken is az's answer for tok.
func newAZToken(tok *lifecycle.Token, tenantGiven bool) azToken {
	out := azToken{
		AccessToken: tok.AccessToken,
		ExpiresOn:   tok.ExpiresOn.Local().Format("2006-01-02 15:04:05.000000"),
		ExpiresOnTS: tok.ExpiresOn.Unix(),
		Tenant:      tok.TenantID,
		TokenType:   "Bearer",
	}
	if !tenantGiven {
		out.Subscription = tok.SubscriptionID
	}
	return out
}

// tokenFunc is Token on the manager, with the session and dir an exec or
// env child means: inside one (AZKEEP_SESSION set), the default session is
// the child's, and its tokens are cached in the child's AZURE_CONFIG_DIR,
// where its az finds them too.
func (f *Factory) tokenFunc(ctx context.Context, req lifecycle.TokenRequest) (*lifecycle.Token, error) {
	m, err := f.rotatedManager(ctx)
	if err != nil {
		return nil, err
	}
	child := os.Getenv(SessionEnv)
	if req.Session == "" {
		req.Session = child
	}
	if child != "" && req.Session == child {
		if dir := os.Getenv("AZURE_CONFIG_DIR"); dir != "" {
			req.Dir, req.ScratchBase = dir, execBase(f.Globals.Home)
		}
	}
	return m.Token(ctx, req)
}

// tokenTimeout bounds a credential helper's wait (kubectl, git): they run
// without a terminal and must not hang their caller.
const tokenTimeout = 2 * time.Minute
