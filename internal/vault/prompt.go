package vault

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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
		if tty == nil || !isTerminal(tty) {
			return nil, hint.New(errors.New("the file vault needs a passphrase and there is no terminal to ask on"),
				"set "+PassphraseEnv)
		}
		fmt.Fprint(out, prompt)
		restore, err := echoOff(tty)
		if err != nil {
			return nil, hint.New(fmt.Errorf("cannot turn terminal echo off for the passphrase: %w", err), "set "+PassphraseEnv)
		}
		line, err := bufio.NewReader(tty).ReadString('\n')
		restore()
		fmt.Fprintln(out)
		if err != nil && line == "" {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		return []byte(strings.TrimRight(line, "\r\n")), nil
	}
}
