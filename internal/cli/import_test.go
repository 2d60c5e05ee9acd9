package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/leapp"
	"github.com/azkeep/azkeep/internal/leapp/leapptest"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// mapKeychain is Leapp's keychain as the generator recorded it.
type mapKeychain map[string]string

func (m mapKeychain) Get(_ context.Context, account string) ([]byte, error) {
	v, ok := m[account]
	if !ok {
		return nil, vault.ErrNotFound
	}
	return []byte(v), nil
}

// importHome is an azkeep home for the import tests, with a memory vault.
type importHome struct {
	f         *Factory
	home, cfg string
	mem       *vault.Memory
	out       bytes.Buffer
	err       bytes.Buffer
}

func newImportHome(t *testing.T) *importHome {
	h := &importHome{mem: vault.NewMemory(), home: filepath.Join(t.TempDir(), "home"), cfg: filepath.Join(t.TempDir(), "azure")}
	h.f = NewFactory(IO{In: strings.NewReader(""), Out: &h.out, Err: &h.err})
	h.f.Globals = &Globals{Home: h.home, ConfigDir: h.cfg, Engine: "az"}
	h.f.Vault = func() (vault.Store, error) { return h.mem, nil }
	return h
}

func (h *importHome) importLeapp(t *testing.T, dir string, kc leapp.Keychain, extra func(*ImportLeappOptions)) error {
	t.Helper()
	h.out.Reset()
	h.err.Reset()
	opts := &ImportLeappOptions{
		IO: h.f.IO, State: h.f.RotatedState, Manager: h.f.rotatedManager,
		Keychain:  func() leapp.Keychain { return kc },
		MachineID: func() (string, error) { return leapptest.MachineID, nil },
		Dir:       dir, Output: "table",
	}
	if extra != nil {
		extra(opts)
	}
	return importLeappRun(context.Background(), opts)
}

// snapshot is the home's state file and vault content, to compare runs.
func (h *importHome) snapshot(t *testing.T) string {
	t.Helper()
	state, err := os.ReadFile(filepath.Join(h.home, workspace.StateFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	items, err := h.mem.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	var b strings.Builder
	b.Write(state)
	for _, it := range items {
		v, _ := h.mem.Get(context.Background(), it.Key)
		fmt.Fprintf(&b, "%s=%x\n", it.Key, sha256.Sum256(v))
	}
	return b.String()
}

func (h *importHome) state(t *testing.T) *workspace.State {
	t.Helper()
	ws, err := workspace.Open(h.home)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ws.Load()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// dirHash is a hash of every file under dir, names and contents.
func dirHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		fmt.Fprintf(h, "%s %d %x\n", p, len(data), sha256.Sum256(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestImportLeapp imports a workspace leapp-core wrote, with its keychain
// items: both integrations are logged in with their five sessions, a
// second run changes nothing, and nothing of Leapp's changes.
func TestImportLeapp(t *testing.T) {
	spec := leapptest.TwoTenants()
	g := leapptest.Generate(t, spec, leapptest.Options{})
	before := dirHash(t, g.Dir)
	h := newImportHome(t)

	if err := h.importLeapp(t, g.Dir, mapKeychain(g.Items), func(o *ImportLeappOptions) { o.DryRun = true }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.home, workspace.StateFile)); err == nil {
		t.Fatal("--dry-run wrote the state")
	}
	if !strings.Contains(h.err.String(), "dry run, nothing changed") || strings.Count(h.out.String(), "\ncreate ") != 2 {
		t.Fatalf("dry run:\n%s%s", h.out.String(), h.err.String())
	}

	if err := h.importLeapp(t, g.Dir, mapKeychain(g.Items), nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("first run:\n%s%s", h.out.String(), h.err.String())
	st := h.state(t)
	if len(st.Integrations) != 2 || len(st.Sessions) != 5 {
		t.Fatalf("%d integrations, %d sessions", len(st.Integrations), len(st.Sessions))
	}
	for i, want := range spec.Integrations {
		in := st.Integrations[i]
		if in.Status != workspace.Online || in.TenantID != want.TenantID || in.Username != want.Username {
			t.Errorf("integration %d: %+v", i, in)
		}
		var subs []string
		for _, s := range st.SessionsOf(in.ID) {
			subs = append(subs, s.SubscriptionID+" "+s.SubscriptionName)
		}
		var wantSubs []string
		for _, s := range want.Subscriptions {
			wantSubs = append(wantSubs, s.ID+" "+s.Name)
		}
		sort.Strings(subs)
		if strings.Join(subs, ",") != strings.Join(wantSubs, ",") {
			t.Errorf("sessions of %s: %v, want %v", in.Alias, subs, wantSubs)
		}
		rt, err := h.mem.Get(context.Background(), in.ID+"/refresh-token")
		if err != nil || !bytes.Contains(rt, []byte(want.RefreshToken)) {
			t.Errorf("refresh token of %s: %v", in.Alias, err)
		}
	}
	if st.Integrations[0].Alias != "Contoso-Prod" || st.Integrations[0].Location != "westeurope" || st.Integrations[1].Location != "eastus" {
		t.Errorf("aliases and locations: %+v", st.Integrations)
	}
	if !strings.Contains(h.out.String(), "aws-dev") || !strings.Contains(h.out.String(), "azkeep manages Azure only") {
		t.Errorf("the AWS session is not listed as skipped:\n%s", h.out.String())
	}
	if strings.Contains(h.out.String()+h.err.String(), "leapp-fixture-rt") {
		t.Error("a refresh token was printed")
	}

	first := h.snapshot(t)
	if err := h.importLeapp(t, g.Dir, mapKeychain(g.Items), func(o *ImportLeappOptions) { o.Output = "json" }); err != nil {
		t.Fatal(err)
	}
	var plan leapp.Plan
	if err := json.Unmarshal(h.out.Bytes(), &plan); err != nil {
		t.Fatal(err)
	}
	if plan.Changed || plan.Integrations[0].Action != leapp.Unchanged || plan.Integrations[1].Action != leapp.Unchanged || len(plan.Skipped) != 1 {
		t.Errorf("second run: %s", h.out.String())
	}
	if h.snapshot(t) != first {
		t.Error("the second run changed the state or the vault")
	}
	if dirHash(t, g.Dir) != before {
		t.Error("the import changed Leapp's files")
	}
}

// TestImportLeappOffline: without Leapp's keychain items the integrations
// are created offline, with a hint to log in; a later run that finds the
// items logs them in.
func TestImportLeappOffline(t *testing.T) {
	g := leapptest.Generate(t, leapptest.TwoTenants(), leapptest.Options{})
	h := newImportHome(t)
	if err := h.importLeapp(t, g.Dir, mapKeychain{}, nil); err != nil {
		t.Fatal(err)
	}
	st := h.state(t)
	if len(st.Integrations) != 2 || len(st.Sessions) != 0 || st.Integrations[0].Status != workspace.Offline {
		t.Fatalf("%+v", st)
	}
	if !strings.Contains(h.out.String(), "create-offline") || !strings.Contains(h.out.String(), "log in with: azkeep integration login Contoso-Prod") {
		t.Errorf("output:\n%s", h.out.String())
	}
	if err := h.importLeapp(t, g.Dir, mapKeychain(g.Items), nil); err != nil {
		t.Fatal(err)
	}
	if st := h.state(t); len(st.Sessions) != 5 || st.Integrations[1].Status != workspace.Online {
		t.Fatalf("after the items appeared: %+v", st)
	}
}

// TestImportLeappRefuses: a foreign or undecryptable file is an error and
// nothing is created.
func TestImportLeappRefuses(t *testing.T) {
	g := leapptest.Generate(t, leapptest.TwoTenants(), leapptest.Options{})
	h := newImportHome(t)
	err := h.importLeapp(t, g.Dir, mapKeychain(g.Items), func(o *ImportLeappOptions) {
		o.MachineID = func() (string, error) { return "some-other-machine", nil }
	})
	if err == nil || !strings.Contains(err.Error(), "written on another machine?") {
		t.Fatalf("wrong machine id: %v", err)
	}
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, leapp.LockFile), []byte(`{"not":"leapp"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.importLeapp(t, foreign, mapKeychain(g.Items), nil); err == nil || !strings.Contains(err.Error(), "is not a Leapp workspace") {
		t.Fatalf("foreign file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.home, workspace.StateFile)); err == nil {
		t.Fatal("a refused import wrote the state")
	}
}

// TestImportLeappSecretService reads Leapp's items where keytar put them:
// the real Secret Service (scripts/test.sh's gnome-keyring), written with
// secret-tool under keytar's attributes.
func TestImportLeappSecretService(t *testing.T) {
	_, err := exec.LookPath("secret-tool")
	testbed.Require(t, err == nil && os.Getenv("AZKEEP_TEST_INNER") == "1" && os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "",
		"a real Secret Service (run scripts/test.sh)")
	g := leapptest.Generate(t, leapptest.TwoTenants(), leapptest.Options{SecretTool: true})
	t.Cleanup(func() {
		for account := range g.Items {
			_ = exec.Command("secret-tool", "clear", "service", leapp.Service, "account", account).Run()
		}
	})
	h := newImportHome(t)
	if err := h.importLeapp(t, g.Dir, vault.Keytar{Service: leapp.Service}, nil); err != nil {
		t.Fatal(err)
	}
	st := h.state(t)
	if len(st.Sessions) != 5 || st.Integrations[0].Status != workspace.Online || st.Integrations[1].Status != workspace.Online {
		t.Fatalf("%s\n%+v", h.out.String(), st)
	}
}
