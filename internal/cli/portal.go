package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"

	"github.com/pkg/browser"
	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

// PortalOptions are the inputs of `portal`.
type PortalOptions struct {
	IO         IO
	State      func(context.Context) (*workspace.State, error)
	ConfigDir  func() string
	SessionEnv string
	Session    string
	// Print only prints the URL.
	Print bool
	// Open opens url in the user's browser; nil where none can open.
	Open func(url string) error
}

// NewCmdPortal builds `portal`.
func NewCmdPortal(f *Factory, runF func(context.Context, *PortalOptions) error) *cobra.Command {
	opts := &PortalOptions{IO: f.IO, State: f.RotatedState, ConfigDir: func() string { return f.Globals.ConfigDir }}
	cmd := &cobra.Command{
		Use:   "portal [SESSION] [--print]",
		Short: "Open the Azure portal on a session's tenant and subscription",
		Long: `Open the Azure portal signed in to the session's tenant, on its
subscription's overview. Without SESSION, the session in use (as azkeep
whoami finds it); on a terminal with none in use, a picker. Where no
browser can open (no display, SSH) or with --print, the URL is printed.

` + sessionArgHelp,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Session = args[0]
			}
			opts.SessionEnv = os.Getenv(SessionEnv)
			if !opts.Print && browserAvailable() {
				opts.Open = browser.OpenURL
			}
			if opts.Session == "" && f.Interactive() {
				if st, err := f.pickState(); err == nil && sessionInUse(st, opts.SessionEnv, opts.ConfigDir()) == nil {
					var err error
					if opts.Session, err = f.sessionArg(nil, "open the portal on"); err != nil {
						return err
					}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return portalRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Print, "print", false, "print the URL, do not open a browser")
	return cmd
}

func portalRun(ctx context.Context, opts *PortalOptions) error {
	st, err := opts.State(ctx)
	if err != nil {
		return err
	}
	var s *workspace.Session
	if opts.Session != "" {
		if s, err = st.Session(opts.Session); err != nil {
			return err
		}
	} else if u := sessionInUse(st, opts.SessionEnv, opts.ConfigDir()); u != nil {
		s = u.Session
	} else {
		return hint.New(errors.New("no session is in use"), "name one: azkeep portal SESSION (azkeep session list shows them)")
	}
	var cloud string
	if in := st.IntegrationByID(s.IntegrationID); in != nil {
		cloud = in.Cloud.Name
	}
	u := portalURL(cloud, s.TenantID, s.SubscriptionID)
	if opts.Open != nil {
		if err := opts.Open(u); err == nil {
			fmt.Fprintf(opts.IO.Err, "azkeep: opened the portal on %s (%s)\n", s.SubscriptionName, s.SubscriptionID)
			return nil
		}
	}
	_, err = fmt.Fprintln(opts.IO.Out, u)
	return err
}

// portalURL is the portal's overview of a subscription, signed in to its
// tenant (the "#@tenant" part picks the directory).
func portalURL(cloud, tenantID, subscriptionID string) string {
	host := "portal.azure.com"
	switch cloud {
	case "AzureUSGovernment":
		host = "portal.azure.us"
	case "AzureChinaCloud":
		host = "portal.azure.cn"
	}
	return fmt.Sprintf("https://%s/#@%s/resource/subscriptions/%s/overview", host, url.PathEscape(tenantID), url.PathEscape(subscriptionID))
}

// browserAvailable reports whether a browser can open here: macOS and
// Windows always; elsewhere only with a display (over SSH or in a
// container xdg-open would fail or open nothing the user sees).
func browserAvailable() bool {
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}
