package lifecycle

import (
	"context"
	"net/http"
	"time"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/native"
)

// AZLogin is the Runner and Refresher on the Azure CLI: an interactive `az
// login`, and `az account list --refresh`, in a private dir azkeep removes
// afterwards.
type AZLogin struct{ AZ *azcli.Runner }

// Login implements Runner.
func (a AZLogin) Login(ctx context.Context, req LoginRequest) error {
	return a.AZ.Login(ctx, azcli.LoginOptions{
		ConfigDir: req.ConfigDir, Tenant: req.Tenant, DeviceCode: req.DeviceCode, Throwaway: true,
		In: req.In, Out: req.Out, Err: req.Err,
	})
}

// RefreshSubscriptions implements Refresher.
func (a AZLogin) RefreshSubscriptions(ctx context.Context, dir string) (string, error) {
	res, err := a.AZ.Run(ctx, azcli.Call{
		Args: []string{"account", "list", "--refresh", "--output", "none"}, ConfigDir: dir, Token: true, Throwaway: true,
	})
	return azcli.Warning(res.Stderr), err
}

// NativeLogin is the Runner on azkeep's own device-code sign-in, which
// writes the files az login writes (the demo on a machine without az).
type NativeLogin struct {
	Client *http.Client
	// MaxInterval caps the device-code polling interval (0: as asked).
	MaxInterval time.Duration
}

// Login implements Runner; the device code instructions go to req.Err.
func (n NativeLogin) Login(ctx context.Context, req LoginRequest) error {
	_, err := native.Login(ctx, native.LoginOptions{
		ConfigDir: req.ConfigDir, Tenant: req.Tenant, Client: n.Client, Prompt: req.Err, MaxInterval: n.MaxInterval,
	})
	return err
}
