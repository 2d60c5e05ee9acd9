package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// TestMain makes the test binary double as the azkeep command and as a
// fake az (as age's tests register a fake plugin), so the scripts run
// azkeep as a user does.
func TestMain(m *testing.M) {
	// Run as az by an exec's child: the az shim, as cmd/azkeep runs it.
	if args, ok := AZShimArgs(os.Args); ok {
		os.Exit(AZShim(args, Stdio()))
	}
	testscript.Main(m, map[string]func(){
		"azkeep": func() { os.Exit(Main(os.Args[1:], Stdio())) },
		"fakeaz": func() { os.Exit(fakeAZ(os.Args[1:])) },
	})
}

// fakeAZ is an Azure CLI that only knows its version, FAKE_AZ_VERSION (for
// the paths the real one cannot be made to take: too old), and fails every
// other command as az does, exit 2 and a line on stderr.
func fakeAZ(args []string) int {
	v := os.Getenv("FAKE_AZ_VERSION")
	if v == "" {
		v = "2.45.0"
	}
	if len(args) > 0 && args[0] == "version" {
		fmt.Printf(`{"azure-cli": %q, "azure-cli-core": %q, "azure-cli-telemetry": "1.0.6", "extensions": {}}`+"\n", v, v)
		return 0
	}
	fmt.Fprintf(os.Stderr, "ERROR: fake az %s cannot run: %s\n", v, strings.Join(args, " "))
	return 2
}

// TestScripts runs the scenarios under testdata/script, which need no real
// Azure CLI (a fake one is $FAKE_AZ): they run on every machine.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("script"))
}

// TestScriptsRealAZ runs the end-to-end scenarios under testdata/realaz
// with the real az against the emulator. Each script starts its own
// emulator (`emu start`) and logs in once. Locally they skip without az; in
// CI (CI=true) a missing az fails them.
func TestScriptsRealAZ(t *testing.T) {
	testbed.RequireAZ(t)
	testscript.Run(t, scriptParams("realaz"))
}

// scriptState is one script's emulator and saved snapshots.
type scriptState struct {
	emu   *entraemu.Emulator
	snaps map[string]map[string]string
}

func scriptParams(dir string) testscript.Params {
	return testscript.Params{
		Dir:                 filepath.Join("testdata", dir),
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			work := env.WorkDir
			cfg := filepath.Join(work, "azure")
			if err := testbed.PrepareConfigDir(cfg); err != nil {
				return err
			}
			for _, kv := range [][2]string{
				{"HOME", filepath.Join(work, "home")},
				{"AZURE_CONFIG_DIR", cfg},
				{"AZKEEP_HOME", filepath.Join(work, "azkeep")},
				{"AZKEEP_VAULT", "file"},
				{"AZKEEP_VAULT_PASSPHRASE", "script-passphrase"},
				// scrypt under the race detector takes seconds, not the
				// default bound.
				{"AZKEEP_VAULT_TIMEOUT", "2m"},
				// A race-enabled binary sleeps 1 s at exit by default.
				{"GORACE", "atexit_sleep_ms=0"},
				{"AZURE_CORE_COLLECT_TELEMETRY", "false"},
				{"AZURE_CORE_NO_COLOR", "true"},
				{"PYTHONWARNINGS", "ignore"},
			} {
				env.Setenv(kv[0], kv[1])
			}
			// The vault: pass when scripts/test.sh set up its throwaway
			// store (fast under -race), else the file backend.
			if dir, gpg := os.Getenv("PASSWORD_STORE_DIR"), os.Getenv("GNUPGHOME"); dir != "" && gpg != "" {
				env.Setenv("AZKEEP_VAULT", "pass")
				env.Setenv("PASSWORD_STORE_DIR", dir)
				env.Setenv("GNUPGHOME", gpg)
			}
			if az, err := azcli.Find(); err == nil {
				env.Setenv("REAL_AZ", az)
			}
			// Scripts point AZKEEP_AZ at the fake: without it they would
			// run the real az, which must never reach the network.
			for _, d := range filepath.SplitList(env.Getenv("PATH")) {
				if p := filepath.Join(d, "fakeaz"); fileExists(p) || fileExists(p+".exe") {
					env.Setenv("FAKE_AZ", p)
					break
				}
			}
			if env.Getenv("FAKE_AZ") == "" {
				return errors.New("the fake az (fakeaz) is not on the scripts' PATH")
			}
			// The private Secret Service of scripts/test.sh (never a
			// developer's own keyring).
			if os.Getenv("AZKEEP_TEST_INNER") == "1" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
				env.Setenv("DBUS_SESSION_BUS_ADDRESS", os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
			}
			st := &scriptState{snaps: map[string]map[string]string{}}
			env.Values["state"] = st
			env.Defer(func() {
				if st.emu != nil {
					st.emu.Close()
				}
			})
			return nil
		},
		Condition: scriptCondition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"emu":            cmdEmu,
			"nort":           cmdNoRT,
			"nologindirs":    cmdNoLoginDirs,
			"snapshot":       cmdSnapshot,
			"unchanged":      cmdUnchanged,
			"vaultitems":     cmdVaultItems,
			"activesessions": cmdActiveSessions,
			"sessionid":      cmdSessionID,
		},
	}
}

// scriptCondition: [secretservice] is scripts/test.sh's private Secret
// Service; [az:2.74] is a real az of that version or newer.
func scriptCondition(cond string) (bool, error) {
	switch {
	case cond == "secretservice":
		return os.Getenv("AZKEEP_TEST_INNER") == "1" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "", nil
	case strings.HasPrefix(cond, "az:"):
		v, err := azcli.New(azcli.Options{}).Version(context.Background())
		if err != nil {
			return false, nil
		}
		var have, want [2]int
		fmt.Sscanf(v, "%d.%d", &have[0], &have[1])
		fmt.Sscanf(strings.TrimPrefix(cond, "az:"), "%d.%d", &want[0], &want[1])
		return have[0] > want[0] || have[0] == want[0] && have[1] >= want[1], nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

func scriptStateOf(ts *testscript.TestScript) *scriptState {
	return ts.Value("state").(*scriptState)
}

// emu start [--subs N] [--lifetime D] [--strict]
// emu reset | grants N | revoke | rename INDEX NAME | remove INDEX | add NAME
func cmdEmu(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! emu")
	}
	if len(args) == 0 {
		ts.Fatalf("usage: emu start|reset|grants|revoke|rename|remove|add")
	}
	st := scriptStateOf(ts)
	if args[0] != "start" && st.emu == nil {
		ts.Fatalf("emu %s: the emulator is not started", args[0])
	}
	subByIndex := func(s string) entraemu.Subscription {
		i, err := strconv.Atoi(s)
		ts.Check(err)
		subs := st.emu.Tenants()[0].Subscriptions
		if i < 1 || i > len(subs) {
			ts.Fatalf("no subscription %d", i)
		}
		return subs[i-1]
	}
	switch args[0] {
	case "start":
		cfg := entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 2}
		for i := 1; i < len(args); i++ {
			switch args[i] {
			case "--subs":
				i++
				n, err := strconv.Atoi(args[i])
				ts.Check(err)
				cfg.SubscriptionsPerTenant = n
			case "--lifetime":
				i++
				d, err := time.ParseDuration(args[i])
				ts.Check(err)
				cfg.TokenLifetime = d
			case "--strict":
				cfg.StrictRefresh = true
			default:
				ts.Fatalf("emu start: unknown flag %s", args[i])
			}
		}
		emu, err := entraemu.Start(cfg)
		ts.Check(err)
		st.emu = emu
		for _, kv := range emu.Env() {
			k, v, _ := strings.Cut(kv, "=")
			ts.Setenv(k, v)
		}
		ts.Setenv("https_proxy", emu.ProxyURL())
		tn := emu.Tenants()[0]
		ts.Setenv("TENANT_ID", tn.ID)
		ts.Setenv("TENANT_DOMAIN", tn.Domain)
		ts.Setenv("USER1", tn.Users[0].Username)
		for i, s := range tn.Subscriptions {
			ts.Setenv(fmt.Sprintf("SUB%d_ID", i+1), s.ID)
			ts.Setenv(fmt.Sprintf("SUB%d_NAME", i+1), s.Name)
		}
	case "reset":
		st.emu.ResetRequests()
	case "grants":
		want, err := strconv.Atoi(args[1])
		ts.Check(err)
		var got []string
		for _, r := range st.emu.TokenRequests("") {
			got = append(got, r.GrantType)
		}
		if len(got) != want {
			ts.Fatalf("%d token requests (%v), want %d", len(got), got, want)
		}
	case "revoke":
		ts.Check(st.emu.RevokeUser(st.emu.Tenants()[0].Users[0].Username))
	case "rename":
		ts.Check(st.emu.RenameSubscription(subByIndex(args[1]).ID, args[2]))
	case "remove":
		ts.Check(st.emu.RemoveSubscription(subByIndex(args[1]).ID))
	case "add":
		s, err := st.emu.AddSubscription(st.emu.Tenants()[0].ID, args[1])
		ts.Check(err)
		ts.Setenv("ADDED_ID", s.ID)
	default:
		ts.Fatalf("emu: unknown command %s", args[0])
	}
}

// nort DIR: no refresh token anywhere under DIR.
func cmdNoRT(ts *testscript.TestScript, neg bool, args []string) {
	rts := testbed.RefreshTokens(testbed.ScanSecrets(ts.MkAbs(args[0])))
	if neg != (len(rts) == 0) {
		return
	}
	if neg {
		ts.Fatalf("no refresh token in %s", args[0])
	}
	ts.Fatalf("refresh tokens on disk: %v", rts)
}

// nologindirs: no private login dir is left in AZKEEP_HOME.
func cmdNoLoginDirs(ts *testscript.TestScript, neg bool, args []string) {
	left, _ := filepath.Glob(filepath.Join(ts.Getenv("AZKEEP_HOME"), "login-*"))
	if len(left) > 0 {
		ts.Fatalf("private login dirs left: %v", left)
	}
}

// snapshot DIR NAME: remember the regular files of DIR.
// snapshot vault NAME: remember the vault's items.
// snapshot sessions NAME: remember the sessions of the state file.
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	scriptStateOf(ts).snaps[args[1]] = capture(ts, args[0])
}

func capture(ts *testscript.TestScript, what string) map[string]string {
	switch what {
	case "vault":
		out := map[string]string{}
		v := openScriptVault(ts)
		items, err := v.List(context.Background())
		ts.Check(err)
		for _, it := range items {
			data, err := v.Get(context.Background(), it.Key)
			ts.Check(err)
			out[it.Key] = string(data)
		}
		return out
	case "sessions":
		ws, err := workspace.Open(ts.Getenv("AZKEEP_HOME"))
		ts.Check(err)
		st, err := ws.Load()
		ts.Check(err)
		out := map[string]string{}
		for _, s := range st.Sessions {
			out[s.ID] = fmt.Sprintf("%+v", s)
		}
		return out
	}
	files, err := testbed.DirSnapshot(ts.MkAbs(what), false)
	ts.Check(err)
	return files
}

// unchanged DIR|vault|sessions NAME: the same as at snapshot NAME.
func cmdUnchanged(ts *testscript.TestScript, neg bool, args []string) {
	before, ok := scriptStateOf(ts).snaps[args[1]]
	if !ok {
		ts.Fatalf("no snapshot %s", args[1])
	}
	after := capture(ts, args[0])
	var diff []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			diff = append(diff, k+" removed")
		} else if w != v {
			diff = append(diff, k+" changed")
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diff = append(diff, k+" added")
		}
	}
	sort.Strings(diff)
	if neg != (len(diff) == 0) {
		return
	}
	if neg {
		ts.Fatalf("%s is unchanged", args[0])
	}
	ts.Fatalf("%s changed since snapshot %s: %s", args[0], args[1], strings.Join(diff, ", "))
}

func openScriptVault(ts *testscript.TestScript) vault.Store {
	pass := ts.Getenv("AZKEEP_VAULT_PASSPHRASE")
	v, err := vault.Open(ts.Getenv("AZKEEP_VAULT"), vault.Options{
		Home:       ts.Getenv("AZKEEP_HOME"),
		Passphrase: func() ([]byte, error) { return []byte(pass), nil },
		Env:        []string{"PASSWORD_STORE_DIR=" + ts.Getenv("PASSWORD_STORE_DIR"), "GNUPGHOME=" + ts.Getenv("GNUPGHOME")},
	})
	ts.Check(err)
	return v
}

// vaultitems N: the vault holds N items (for every integration), and with
// N=3 they are the three of the seed.
func cmdVaultItems(ts *testscript.TestScript, neg bool, args []string) {
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	items, err := openScriptVault(ts).List(context.Background())
	ts.Check(err)
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	if len(items) != want {
		ts.Fatalf("vault holds %d items %v, want %d", len(items), keys, want)
	}
	if want == 3 {
		for _, suffix := range []string{"/refresh-token", "/account", "/profile"} {
			found := false
			for _, k := range keys {
				found = found || strings.HasSuffix(k, suffix)
			}
			if !found {
				ts.Fatalf("vault lacks the %s item: %v", suffix, keys)
			}
		}
	}
}

// activesessions N: exactly N sessions are active.
func cmdActiveSessions(ts *testscript.TestScript, neg bool, args []string) {
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	ws, err := workspace.Open(ts.Getenv("AZKEEP_HOME"))
	ts.Check(err)
	st, err := ws.Load()
	ts.Check(err)
	n := 0
	for _, s := range st.Sessions {
		if s.Status == workspace.Active {
			n++
		}
	}
	if n != want {
		ts.Fatalf("%d active sessions, want %d", n, want)
	}
}

// sessionid SUBSCRIPTION VAR: set VAR to the session id of the
// subscription; when VAR is already set, check it is still the same.
func cmdSessionID(ts *testscript.TestScript, neg bool, args []string) {
	ws, err := workspace.Open(ts.Getenv("AZKEEP_HOME"))
	ts.Check(err)
	st, err := ws.Load()
	ts.Check(err)
	s, err := st.Session(args[0])
	ts.Check(err)
	if old := ts.Getenv(args[1]); old != "" {
		if old != s.ID {
			ts.Fatalf("session of %s changed id: %s -> %s", args[0], old, s.ID)
		}
		return
	}
	ts.Setenv(args[1], s.ID)
}
