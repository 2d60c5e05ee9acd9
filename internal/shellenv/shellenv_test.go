package shellenv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

var tricky = []string{
	"",
	"plain",
	"/tmp/azkeep sessions/prod dir",
	"it's",
	"''",
	`back\slash\`,
	`\'`,
	`$HOME ${HOME} $(id) ` + "`id`",
	"line1\nline2\n",
	"tab\there",
	`"double"`,
	"!history !! ^x^y",
	"*?[a-z]~",
	";&|<>(){}#",
	"ünïcødé ‘smart’ ‚low‛ quotes",
	"\x01\x7f\xff\xfe invalid utf-8",
	"%s %d \\0 \\n",
	"-n",
	"--",
	"a=b",
}

func randomValue(r *rand.Rand) string {
	alphabet := []string{"a", "Z", "0", " ", "'", `"`, `\`, "$", "`", "\n", "\t", "!", "*", "?", "~", "#", ";", "&", "|", "(", ")", "{", "}", "<", ">", "%", "‘", "’", "é", "\xff", "-", "=", "\r"}
	n := r.IntN(24)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// roundTrip runs the lines in a real shell, then `env -0`, and returns the
// exported environment it saw.
func roundTrip(t *testing.T, sh Shell, script string, env []string) map[string]string {
	t.Helper()
	var cmd *exec.Cmd
	switch sh {
	case Bash:
		cmd = exec.Command("bash", "--norc", "--noprofile", "-c", script+"exec env -0\n")
	case Zsh:
		cmd = exec.Command("zsh", "-f", "-c", script+"exec env -0\n")
	case Fish:
		cmd = exec.Command("fish", "--no-config", "-c", script+"env -0\n")
	case PowerShell:
		cmd = exec.Command("pwsh", "-NoProfile", "-NonInteractive", "-Command", script+"& env -0\n")
	}
	if _, err := exec.LookPath(cmd.Path); err != nil {
		// scripts/test.sh installs bash, zsh and fish; Debian has no pwsh,
		// so PowerShell quoting is checked against fixed lines only.
		if os.Getenv("CI") == "true" && sh != PowerShell {
			t.Fatalf("%s not installed: CI must run this round trip (scripts/test.sh installs it)", sh)
		}
		t.Skipf("%s not installed", sh)
	}
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s\nscript:\n%s", sh, err, stderr.String(), script)
	}
	got := map[string]string{}
	for _, kv := range bytes.Split(out, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			got[k] = v
		}
	}
	return got
}

func checkRoundTrip(t *testing.T, sh Shell, values []string) {
	t.Helper()
	var vars []Var
	for i, v := range values {
		vars = append(vars, Var{Name: fmt.Sprintf("AZKEEP_T%d", i), Value: v})
	}
	script, err := Script(sh, vars, []string{"AZKEEP_GONE"})
	if err != nil {
		t.Fatal(err)
	}
	got := roundTrip(t, sh, script, []string{"AZKEEP_GONE=still here"})
	for _, v := range vars {
		if g, ok := got[v.Name]; !ok || g != v.Value {
			t.Errorf("%s: %s = %q, want %q (line %q)", sh, v.Name, g, v.Value, mustSet(t, sh, v))
		}
	}
	if _, ok := got["AZKEEP_GONE"]; ok {
		t.Errorf("%s: unset did not remove AZKEEP_GONE", sh)
	}
}

func mustSet(t *testing.T, sh Shell, v Var) string {
	line, err := Set(sh, v.Name, v.Value)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func TestRoundTripTricky(t *testing.T) {
	for _, sh := range Shells {
		t.Run(string(sh), func(t *testing.T) {
			values := tricky
			if sh == Fish {
				// fish keeps invalid UTF-8 in its own encoding, but not
				// every byte survives; paths and ids are UTF-8.
				values = values[:len(values)-5]
				values = append(values, tricky[len(tricky)-4:]...)
			}
			checkRoundTrip(t, sh, values)
		})
	}
}

// Property test: random values built from every character that means
// something to a shell round-trip exactly through each real shell.
func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range Shells {
		t.Run(string(sh), func(t *testing.T) {
			var values []string
			for i := 0; i < 300; i++ {
				v := randomValue(r)
				if sh == Fish {
					v = strings.ToValidUTF8(v, "?")
				}
				values = append(values, v)
			}
			checkRoundTrip(t, sh, values)
		})
	}
}

// FuzzBash: go test -fuzz FuzzBash ./internal/shellenv
func FuzzBash(f *testing.F) {
	for _, v := range tricky {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if strings.IndexByte(v, 0) >= 0 {
			if _, err := Set(Bash, "X", v); err == nil {
				t.Fatal("NUL accepted")
			}
			return
		}
		checkRoundTrip(t, Bash, []string{v})
	})
}

func TestRefusesBadInput(t *testing.T) {
	for _, name := range []string{"", "1A", "A-B", "A B", "A=B", "$(x)", "Ä"} {
		if _, err := Set(Bash, name, "v"); err == nil {
			t.Errorf("name %q accepted", name)
		}
		if _, err := Unset(Fish, name); err == nil {
			t.Errorf("unset name %q accepted", name)
		}
	}
	if _, err := Set(Zsh, "A", "a\x00b"); err == nil {
		t.Error("NUL accepted")
	}
	if _, err := Set(Shell("tcsh"), "A", "b"); err == nil {
		t.Error("unknown shell accepted")
	}
}

func TestLines(t *testing.T) {
	cases := []struct {
		sh         Shell
		set, unset string
	}{
		{Bash, "export A='it'\\''s'\n", "unset A\n"},
		{Zsh, "export A='it'\\''s'\n", "unset A\n"},
		{Fish, "set -gx A 'it\\'s';\n", "set -e A;\n"},
		{PowerShell, "$Env:A = 'it''s'\n", "Remove-Item -ErrorAction SilentlyContinue Env:A\n"},
	}
	for _, c := range cases {
		if got := mustSet(t, c.sh, Var{"A", "it's"}); got != c.set {
			t.Errorf("%s set: %q, want %q", c.sh, got, c.set)
		}
		if got, _ := Unset(c.sh, "A"); got != c.unset {
			t.Errorf("%s unset: %q, want %q", c.sh, got, c.unset)
		}
	}
	if got := quotePowerShell("a’b"); got != "'a’’b'" {
		t.Errorf("smart quote: %q", got)
	}
}

func TestParseDetect(t *testing.T) {
	for in, want := range map[string]Shell{"bash": Bash, "ZSH": Zsh, "fish": Fish, "pwsh": PowerShell, "powershell": PowerShell, "sh": Bash} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := Parse("cmd"); err == nil {
		t.Error("cmd accepted")
	}
	for in, want := range map[string]Shell{"/bin/zsh": Zsh, "/usr/bin/fish": Fish, `C:\x\pwsh.exe`: PowerShell, "": Bash, "/bin/tcsh": Bash} {
		if got := Detect(in); got != want {
			t.Errorf("Detect(%q) = %q", in, got)
		}
	}
}
