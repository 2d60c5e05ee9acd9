package azcli

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/hint"
)

// InstallHint is the fix printed when az is missing.
const InstallHint = "install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli), or set AZKEEP_AZ to its path"

// ErrNotInstalled means no az was found (AZKEEP_AZ unset and no az on PATH,
// or AZKEEP_AZ naming a file that is not there).
var ErrNotInstalled = errors.New("the Azure CLI (az) was not found")

// TooOldError means az is older than MinVersion.
type TooOldError struct {
	Path    string
	Version string
	Min     string
}

// Error implements error.
func (e *TooOldError) Error() string {
	return fmt.Sprintf("the Azure CLI at %s is version %s; azkeep needs %s or newer (the MSAL-based CLI)", e.Path, e.Version, e.Min)
}

// VersionUnknownError means az ran but its version could not be read.
type VersionUnknownError struct {
	Path   string
	Output string // what az printed, shortened and redacted
	Err    error
}

// Error implements error.
func (e *VersionUnknownError) Error() string {
	msg := fmt.Sprintf("cannot read the version of the Azure CLI at %s", e.Path)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Output != "" {
		msg += fmt.Sprintf(" (it printed %q)", e.Output)
	}
	return msg
}

// Unwrap returns the underlying failure.
func (e *VersionUnknownError) Unwrap() error { return e.Err }

// TimeoutError means a non-interactive az call did not finish in time and
// was killed.
type TimeoutError struct {
	Command string // "az account get-access-token", no values
	After   time.Duration
}

// Error implements error.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s did not finish within %s and was stopped", e.Command, e.After)
}

// ExitError is any other failure of az: its exit code and its stderr,
// with secrets redacted, or one line saying what az meant where its own
// text does not (a server error of the token endpoint).
type ExitError struct {
	Command string
	Code    int
	Stderr  string
}

// Error implements error.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s failed (exit status %d)", e.Command, e.Code)
	if s := summary(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

// summary is what az's stderr says failed: a Python traceback (an error
// az did not handle) is summarised by its last line, the exception.
func summary(stderr string) string {
	s := strings.TrimSpace(stderr)
	if !strings.Contains(s, "Traceback (most recent call last):") {
		return s
	}
	lines := strings.Split(s, "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// systemHints are the fixes for the system errors az (Python) reports,
// by the text of their errno.
var systemHints = []struct{ text, hint string }{
	{"No space left on device", "free disk space, then retry"},
	{"Permission denied", "check the permissions of the Azure CLI's config dir and of AZKEEP_HOME"},
	{"Read-only file system", "the Azure CLI's config dir or AZKEEP_HOME is on a read-only file system: point AZURE_CONFIG_DIR or AZKEEP_HOME elsewhere"},
	{"Connection refused", "is the network or proxy up? check HTTPS_PROXY and the connection"},
	{"ProxyError", "is the network or proxy up? check HTTPS_PROXY and the connection"},
	{"Max retries exceeded", "is the network or proxy up? check HTTPS_PROXY and the connection"},
}

// IsTimeout reports whether err is a TimeoutError.
func IsTimeout(err error) bool {
	var t *TimeoutError
	return errors.As(err, &t)
}

var (
	// Regular expressions are compiled on first use, not at start-up:
	// every azkeep command links this package, few of them need these.
	aadsts = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`AADSTS\d+[^\r\n]*`) })
	// What az prints when the cache holds no usable token or account.
	loginPhrases = []string{
		"az login",
		"Can't find token from MSAL cache",
		"interaction_required",
		"invalid_grant",
	}
)

// classify turns az's failure into a typed error: NeedsLoginError when the
// token endpoint (or the cache) says a new login is needed, else ExitError.
func classify(command string, code int, stderr string) error {
	red := Redact(stderr)
	needs := aadsts().MatchString(stderr)
	for _, p := range loginPhrases {
		if strings.Contains(stderr, p) {
			needs = true
		}
	}
	if !needs {
		if what, ok := tokenEndpointFault(stderr); ok {
			return hint.New(&ExitError{Command: command, Code: code, Stderr: what},
				"the fault is Microsoft Entra ID's (or a proxy's): retry in a minute")
		}
		return &ExitError{Command: command, Code: code, Stderr: shorten(red, 2000)}
	}
	e := &azure.NeedsLoginError{Code: "login_required"}
	switch {
	case strings.Contains(stderr, "interaction_required"):
		e.Code = "interaction_required"
	case strings.Contains(stderr, "invalid_grant") || aadsts().MatchString(stderr):
		e.Code = "invalid_grant"
	}
	if m := aadsts().FindString(red); m != "" {
		e.Description = strings.TrimSpace(m)
	} else {
		e.Description = firstErrorLine(red)
	}
	return e
}

// serverError is how az 2.45 reports a 5xx from the token endpoint:
// requests' "503 Server Error: Service Unavailable for url: …/token".
var serverError = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\b(5\d\d) Server Error: [^\r\n]* for url: \S*/oauth2/(?:v2\.0/)?token\b`)
})

// tokenEndpointFault recognises a 5xx answer of the token endpoint in az's
// stderr and says so in one line. az 2.74's MSAL (1.32) crashes while
// building that error (KeyError: 'error' raised from raise_for_status in
// _obtain_token) and prints a traceback that never names the status: then
// only the class is known.
func tokenEndpointFault(stderr string) (string, bool) {
	if m := serverError().FindStringSubmatch(stderr); m != nil {
		return "the token endpoint answered HTTP " + m[1], true
	}
	if strings.Contains(stderr, "KeyError: 'error'") && strings.Contains(stderr, "in raise_for_status") &&
		strings.Contains(stderr, "in _obtain_token") {
		return "the token endpoint answered with a server error (HTTP 5xx; this az does not say which)", true
	}
	return "", false
}

// Warning is the first warning az printed on stderr, redacted and
// shortened, without az's "WARNING:" prefix; "" when there is none.
func Warning(stderr string) string {
	for _, l := range strings.Split(Redact(stderr), "\n") {
		l = strings.TrimSpace(l)
		if w, ok := strings.CutPrefix(l, "WARNING:"); ok {
			return shorten(strings.TrimSpace(w), 300)
		}
	}
	return ""
}

func firstErrorLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "ERROR:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "ERROR:"))
		}
	}
	return shorten(strings.TrimSpace(s), 300)
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

var secretPatterns = sync.OnceValue(func() []*regexp.Regexp {
	return []*regexp.Regexp{
		// JWTs: access and id tokens.
		regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`),
		// Entra refresh tokens ("0.A…", "1.A…").
		regexp.MustCompile(`\b[01]\.A[A-Za-z0-9_.\-]{16,}`),
		// key=value and "key": "value" forms of secrets.
		regexp.MustCompile(`(?i)((?:access_token|refresh_token|id_token|client_secret|password|secret|assertion|device_code)["']?\s*[:=]\s*["']?)[^"'&\s,}]+`),
	}
})

// Redact replaces anything in s that looks like a token or secret with
// "[REDACTED]", so az's output can go into an error message or a log.
func Redact(s string) string {
	for i, re := range secretPatterns() {
		if i == 2 {
			s = re.ReplaceAllString(s, "${1}[REDACTED]")
			continue
		}
		s = re.ReplaceAllString(s, "[REDACTED]")
	}
	return s
}

// withHint attaches the user-facing fix to the typed errors.
func withHint(err error) error {
	var old *TooOldError
	var nl *azure.NeedsLoginError
	var to *TimeoutError
	switch {
	case errors.Is(err, ErrNotInstalled):
		return hint.New(err, InstallHint)
	case errors.As(err, &old):
		return hint.New(err, "upgrade the Azure CLI (az upgrade, or your package manager), or set AZKEEP_AZ to a newer az")
	case errors.As(err, &to):
		return hint.New(err, "check the network and proxy settings; run with --debug to see the az command")
	case errors.As(err, &nl):
		return err // the lifecycle knows which integration to name
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		for _, h := range systemHints {
			if strings.Contains(ee.Stderr, h.text) {
				return hint.New(err, h.hint)
			}
		}
	}
	return err
}
