package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/azkeep/azkeep/internal/vault"
)

// offerFileVault is vault.Options.OfferFile on a terminal: where the OS
// vault cannot be reached at all (SSH, WSL, containers have no D-Bus
// session), azkeep says so and offers the file vault, whose passphrase is
// asked next. Without a terminal nothing is offered: the command fails at
// once with the fix.
func offerFileVault(streams IO, home string) func(error) bool {
	return func(cause error) bool {
		fmt.Fprintf(streams.Err, "azkeep: the OS vault cannot be reached: %s\n", cause)
		fmt.Fprintf(streams.Err, "azkeep: keep azkeep's secrets in the file vault instead (age-encrypted with a passphrase, in %s)? [Y/n] ",
			filepath.Join(home, "vault", vault.File))
		answer := strings.ToLower(strings.TrimSpace(readLine(streams.In)))
		if answer != "" && answer != "y" && answer != "yes" {
			return false
		}
		fmt.Fprintln(streams.Err, "azkeep: using the file vault from now on (--vault or AZKEEP_VAULT picks another; azkeep doctor shows the choice)")
		return true
	}
}

// readLine reads one line a byte at a time: a buffered reader would keep
// what follows (a passphrase typed ahead) from the next prompt.
func readLine(r io.Reader) string {
	var sb strings.Builder
	b := make([]byte, 1)
	for {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			sb.WriteByte(b[0])
		}
		if err != nil {
			break
		}
	}
	return sb.String()
}
