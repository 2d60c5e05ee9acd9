// Command azkeep keeps Azure refresh tokens in the OS vault and hands the
// Azure CLI, Terraform and the SDKs short-lived access tokens only.
package main

import (
	"os"

	"github.com/azkeep/azkeep/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Stdio()))
}
