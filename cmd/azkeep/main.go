// Command azkeep keeps Azure refresh tokens in the OS vault and hands the
// Azure CLI, Terraform and the SDKs short-lived access tokens only.
package main

import (
	"os"

	"github.com/azkeep/azkeep/internal/cli"
)

func main() {
	// Run as az (the shim azkeep exec puts on its child's PATH).
	if args, ok := cli.AZShimArgs(os.Args); ok {
		os.Exit(cli.AZShim(args, cli.Stdio()))
	}
	os.Exit(cli.Main(os.Args[1:], cli.Stdio()))
}
