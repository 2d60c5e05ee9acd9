// Package shellenv prints environment assignments as lines a shell can eval:
// `eval "$(azkeep env prod)"` in bash and zsh, `azkeep env prod | source` in
// fish, `azkeep env prod --shell powershell | Invoke-Expression` in PowerShell.
//
// Every value is single-quoted in the shell's own rules, so no value (a path
// with spaces, quotes, $, backticks, newlines) is ever expanded or executed.
package shellenv

import (
	"fmt"
	"strings"
)

// Shell is a supported shell dialect.
type Shell string

// The supported shells.
const (
	Bash       Shell = "bash"
	Zsh        Shell = "zsh"
	Fish       Shell = "fish"
	PowerShell Shell = "powershell"
)

// Shells lists the supported dialects, for help texts.
var Shells = []Shell{Bash, Zsh, Fish, PowerShell}

// Parse turns a --shell value into a Shell ("sh", "pwsh" are accepted too).
func Parse(name string) (Shell, error) {
	switch strings.ToLower(name) {
	case "bash", "sh", "ksh", "dash":
		return Bash, nil
	case "zsh":
		return Zsh, nil
	case "fish":
		return Fish, nil
	case "powershell", "pwsh":
		return PowerShell, nil
	}
	return "", fmt.Errorf("unknown shell %q (use bash, zsh, fish or powershell)", name)
}

// Detect guesses the dialect from a $SHELL value; bash when unknown.
// On Windows, where $SHELL is usually unset, callers pass "powershell".
func Detect(shellPath string) Shell {
	base := shellPath
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	base = strings.TrimSuffix(strings.ToLower(base), ".exe")
	if s, err := Parse(base); err == nil {
		return s
	}
	return Bash
}

// Var is one assignment.
type Var struct {
	Name, Value string
}

// ValidName reports whether name is a portable environment variable name.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Set returns the line that exports name=value in sh, newline included.
func Set(sh Shell, name, value string) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("invalid variable name %q", name)
	}
	if strings.IndexByte(value, 0) >= 0 {
		return "", fmt.Errorf("value of %s holds a NUL byte", name)
	}
	switch sh {
	case Bash, Zsh:
		return "export " + name + "=" + quotePOSIX(value) + "\n", nil
	case Fish:
		return "set -gx " + name + " " + quoteFish(value) + ";\n", nil
	case PowerShell:
		return "$Env:" + name + " = " + quotePowerShell(value) + "\n", nil
	}
	return "", fmt.Errorf("unknown shell %q", sh)
}

// Unset returns the line that removes name from sh's environment.
func Unset(sh Shell, name string) (string, error) {
	if !ValidName(name) {
		return "", fmt.Errorf("invalid variable name %q", name)
	}
	switch sh {
	case Bash, Zsh:
		return "unset " + name + "\n", nil
	case Fish:
		return "set -e " + name + ";\n", nil
	case PowerShell:
		return "Remove-Item -ErrorAction SilentlyContinue Env:" + name + "\n", nil
	}
	return "", fmt.Errorf("unknown shell %q", sh)
}

// Script returns the unset lines, then the set lines.
func Script(sh Shell, set []Var, unset []string) (string, error) {
	var b strings.Builder
	for _, n := range unset {
		line, err := Unset(sh, n)
		if err != nil {
			return "", err
		}
		b.WriteString(line)
	}
	for _, v := range set {
		line, err := Set(sh, v.Name, v.Value)
		if err != nil {
			return "", err
		}
		b.WriteString(line)
	}
	return b.String(), nil
}

// Quote returns s as one word of sh, single-quoted (no expansion).
func Quote(sh Shell, s string) string {
	switch sh {
	case Fish:
		return quoteFish(s)
	case PowerShell:
		return quotePowerShell(s)
	}
	return quotePOSIX(s)
}

// quotePOSIX single-quotes s: nothing inside quotes is special except the
// quote itself, written as: close quote, backslash-quote, reopen quote.
// Same in bash, zsh, dash.
func quotePOSIX(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// quoteFish single-quotes s: inside '…' fish treats \' and \\ as escapes
// and nothing else.
func quoteFish(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

// quotePowerShell single-quotes s: a quote is doubled. PowerShell also takes
// the typographic single quotes U+2018, U+2019, U+201A and U+201B as quote
// characters, so they are doubled too (or they would end the string).
func quotePowerShell(s string) string {
	return "'" + psQuotes.Replace(s) + "'"
}

// psQuotes works on bytes, so a value that is not valid UTF-8 is kept as is.
var psQuotes = strings.NewReplacer(
	"'", "''",
	"\u2018", "\u2018\u2018",
	"\u2019", "\u2019\u2019",
	"\u201A", "\u201A\u201A",
	"\u201B", "\u201B\u201B",
)
