package vault

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/azkeep/azkeep/internal/hint"
)

// PromptPassphrase returns an Options.Passphrase that reads
// $AZKEEP_VAULT_PASSPHRASE, or else asks on the terminal (echo off), writing
// prompt to out. With neither it fails with the fix.
func PromptPassphrase(tty *os.File, out io.Writer, prompt string) func() ([]byte, error) {
	return func() ([]byte, error) {
		if p := os.Getenv(PassphraseEnv); p != "" {
			return []byte(p), nil
		}
		if tty == nil || !term.IsTerminal(int(tty.Fd())) {
			return nil, hint.New(errors.New("the file vault needs a passphrase and there is no terminal to ask on"),
				"set "+PassphraseEnv)
		}
		fmt.Fprint(out, prompt)
		p, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(out)
		if err != nil {
			return nil, hint.New(fmt.Errorf("reading the passphrase: %w", err), "set "+PassphraseEnv)
		}
		return p, nil
	}
}
