package cli

// The az shim: azkeep under the name az, first on the PATH of an exec's
// child. Every SDK's AzureCliCredential runs `az account get-access-token`
// for each token it needs; az is a Python program that takes a few hundred
// milliseconds to start, and it can serve only the scopes its cache holds
// (no refresh token rests on disk). The shim answers that one command from
// the session (lifecycle.Manager.Token: the cache while valid, else one
// grant for the scope) in az's JSON, and hands every other command to the
// real az unchanged.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
)

// azShimDir is the name of the dir holding the shim in a per-session dir.
// The shim skips a PATH entry of this name when it looks for the real az.
const azShimDir = "azkeep-az-shim"

// azShimArg is the first argument the Windows shim (az.cmd) passes to
// azkeep, where a script cannot choose its program's argv[0].
const azShimArg = "__az-shim"

// AZShimArgs reports whether argv (the process's os.Args) is azkeep run as
// the az shim, and then returns az's arguments.
func AZShimArgs(argv []string) ([]string, bool) {
	if len(argv) == 0 {
		return nil, false
	}
	if len(argv) > 1 && argv[1] == azShimArg {
		return argv[2:], true
	}
	name := strings.ToLower(filepath.Base(argv[0]))
	return argv[1:], strings.TrimSuffix(name, ".exe") == "az"
}

// AZShim runs azkeep as az with args and returns the exit code.
func AZShim(args []string, streams IO) int {
	req, ok := parseGetAccessToken(args)
	if !ok {
		return report(streams.Err, execRealAZ(args, streams))
	}
	f := NewFactory(streams)
	if err := f.Globals.resolve(); err != nil {
		return report(streams.Err, err)
	}
	if req.output == "" {
		req.output = defaultAZOutput(f.Globals.ConfigDir)
	}
	if req.output != "json" && req.output != "tsv" && req.output != "none" {
		return report(streams.Err, execRealAZ(args, streams))
	}
	ctx, stop := signalContext()
	defer stop()
	tok, err := f.tokenFunc(ctx, lifecycle.TokenRequest{Scope: req.scope, Tenant: req.tenant})
	if err != nil {
		return report(streams.Err, err)
	}
	// A token for another subscription than the session's is az's business.
	if req.subscription != "" && !strings.EqualFold(req.subscription, tok.SubscriptionID) {
		return report(streams.Err, execRealAZ(args, streams))
	}
	return report(streams.Err, writeShimToken(streams.Out, tok, req))
}

// getAccessToken is the `az account get-access-token` the shim answers.
type getAccessToken struct {
	scope, tenant, subscription string
	output                      string // "" is az's default output
	query                       string // "" or one field of the answer
}

// azTokenFields are the fields of az's answer, by --query name.
var azTokenFields = []string{"accessToken", "expiresOn", "expires_on", "subscription", "tenant", "tokenType"}

// parseGetAccessToken reads args as `az account get-access-token` with
// the flags the SDKs pass (--output, --resource or one --scope, --tenant,
// --subscription) and a --query naming one field. Anything else (another
// command, --resource-type, --debug, a JMESPath expression) is not the
// shim's: ok is false.
func parseGetAccessToken(args []string) (r getAccessToken, ok bool) {
	if len(args) < 2 || args[0] != "account" || args[1] != "get-access-token" {
		return r, false
	}
	var resource string
	rest := args[2:]
	for len(rest) > 0 {
		name, val, inline := strings.Cut(rest[0], "=")
		rest = rest[1:]
		if name == "--only-show-errors" && !inline {
			continue
		}
		if !inline {
			if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
				return r, false
			}
			val, rest = rest[0], rest[1:]
		}
		var dst *string
		switch name {
		case "--output", "-o":
			dst = &r.output
		case "--resource":
			dst = &resource
		case "--scope", "--scopes":
			dst = &r.scope
		case "--tenant", "-t":
			dst = &r.tenant
		case "--subscription", "-s":
			dst = &r.subscription
		case "--query":
			dst = &r.query
		default:
			return r, false
		}
		if *dst != "" || val == "" {
			return r, false
		}
		*dst = val
	}
	if resource != "" && r.scope != "" {
		return r, false // az refuses it; let it say so
	}
	if resource != "" {
		r.scope = resource + "/.default" // az's resource_to_scopes
	}
	if r.scope == "" {
		r.scope = defaultTokenScope
	}
	if r.query != "" && !slices.Contains(azTokenFields, r.query) {
		return r, false
	}
	// az refuses --tenant with --subscription; so does the shim, through az.
	return r, r.tenant == "" || r.subscription == ""
}

// defaultAZOutput is az's output format when --output is not given:
// AZURE_CORE_OUTPUT, else core.output in the config dir, else json.
func defaultAZOutput(configDir string) string {
	if v := os.Getenv("AZURE_CORE_OUTPUT"); v != "" {
		return v
	}
	if cfg, err := azconfig.LoadINI(filepath.Join(configDir, azconfig.ConfigFile)); err == nil {
		if v, ok := cfg.Get("core", "output"); ok && v != "" {
			return v
		}
	}
	return "json"
}

// writeShimToken prints tok as az prints it for req: the whole answer or
// one --query field, as JSON or tab-separated values.
func writeShimToken(w io.Writer, tok *lifecycle.Token, req getAccessToken) error {
	if req.output == "none" {
		return nil
	}
	if req.query == "" && req.output == "json" {
		return writeAZToken(w, tok, req.tenant != "")
	}
	out := newAZToken(tok, req.tenant != "")
	values := map[string]any{
		"accessToken": out.AccessToken, "expiresOn": out.ExpiresOn, "expires_on": out.ExpiresOnTS,
		"subscription": out.Subscription, "tenant": out.Tenant, "tokenType": out.TokenType,
	}
	if req.query != "" {
		v := values[req.query]
		if req.query == "subscription" && out.Subscription == "" {
			v = nil // absent under --tenant: az prints nothing
		}
		if req.output == "json" {
			data, err := json.MarshalIndent(v, "", "  ")
			if err != nil || v == nil {
				return err
			}
			_, err = fmt.Fprintf(w, "%s\n", data)
			return err
		}
		if v == nil {
			return nil
		}
		_, err := fmt.Fprintf(w, "%v\n", v)
		return err
	}
	// tsv: the values in az's key order, tab-separated.
	var cols []string
	for _, k := range azTokenFields {
		if k == "subscription" && out.Subscription == "" {
			continue
		}
		cols = append(cols, fmt.Sprint(values[k]))
	}
	_, err := fmt.Fprintln(w, strings.Join(cols, "\t"))
	return err
}

// execRealAZ hands args to the real az: it replaces this process where the
// OS allows it (execAZ), so az's exit status, signals and terminal are its
// own.
func execRealAZ(args []string, streams IO) error {
	az, err := realAZ(os.Getenv(azcli.EnvAZ), os.Getenv("PATH"))
	if err != nil {
		return err
	}
	return execAZ(az, args, streams)
}

// realAZ finds the az the shim stands in for: AZKEEP_AZ (exec sets it to
// the az it found), else the first az on path that is neither this
// executable nor in a shim dir.
func realAZ(explicit, path string) (string, error) {
	self, _ := os.Executable()
	isSelf := func(p string) bool {
		if self == "" {
			return false
		}
		a, err1 := os.Stat(p)
		b, err2 := os.Stat(self)
		return err1 == nil && err2 == nil && os.SameFile(a, b)
	}
	if explicit != "" && !isSelf(explicit) {
		return explicit, nil
	}
	names := []string{"az"}
	if runtime.GOOS == "windows" {
		names = []string{"az.cmd", "az.exe", "az.bat"}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || filepath.Base(dir) == azShimDir {
			continue
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			if fi, err := os.Stat(p); err != nil || fi.IsDir() || isSelf(p) {
				continue
			}
			if lp, err := exec.LookPath(p); err == nil {
				return lp, nil
			}
		}
	}
	return "", hint.New(fmt.Errorf("%w on PATH besides azkeep's shim", azcli.ErrNotInstalled), azcli.InstallHint)
}

// withAZShim puts the shim (a link to self, or az.cmd on Windows) into
// dir/azkeep-az-shim, first on env's PATH, and tells it where the real az
// (looked up on env's PATH) and azkeep's home are.
func withAZShim(env []string, dir, self, home string) ([]string, error) {
	shim := filepath.Join(dir, azShimDir)
	if err := os.MkdirAll(shim, 0o700); err != nil {
		return nil, err
	}
	if err := installAZShim(shim, self); err != nil {
		return nil, fmt.Errorf("install the az shim: %w", err)
	}
	path := withoutAZShim(envValue(env, "PATH"))
	set := [][2]string{{"PATH", shim + string(os.PathListSeparator) + path}, {"AZKEEP_HOME", home}}
	if envValue(env, azcli.EnvAZ) == "" {
		if az, err := realAZ("", path); err == nil {
			set = append(set, [2]string{azcli.EnvAZ, az})
		}
	}
	return setEnv(env, set), nil
}

// withoutAZShim is path without its shim dirs: a shell set up by
// azkeep env --az-shim has one, which the next env or exec replaces.
func withoutAZShim(path string) string {
	if path == "" {
		return path
	}
	var keep []string
	for _, dir := range filepath.SplitList(path) {
		if filepath.Base(dir) != azShimDir {
			keep = append(keep, dir)
		}
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// installAZShim makes az in dir run self as the shim.
func installAZShim(dir, self string) error {
	if runtime.GOOS == "windows" {
		script := fmt.Sprintf("@\"%s\" %s %%*\r\n", self, azShimArg)
		return os.WriteFile(filepath.Join(dir, "az.cmd"), []byte(script), 0o700)
	}
	link := filepath.Join(dir, "az")
	if err := os.Remove(link); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Symlink(self, link)
}

// envValue is the value of name in env ("" when unset).
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := cutEnv(kv); ok && envKey(k) == envKey(name) {
			v = val
		}
	}
	return v
}

// setEnv replaces or adds the variables of set in env.
func setEnv(env []string, set [][2]string) []string {
	for _, kv := range set {
		found := false
		for i, e := range env {
			if k, _, ok := cutEnv(e); ok && envKey(k) == envKey(kv[0]) {
				env[i], found = k+"="+kv[1], true
			}
		}
		if !found {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	return env
}
