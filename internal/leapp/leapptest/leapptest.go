// Package leapptest writes Leapp workspaces for tests with the real,
// published leapp-core (internal/leapp/testdata/gen): never a hand-made
// file. It installs leapp-core from npm into a cache dir outside the
// repository on first use. Tests skip when node or npm is missing, and
// fail under CI=true.
package leapptest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/testbed"
)

// MachineID is the fixtures' raw machine id.
const MachineID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

// Subscription is one subscription of a fixture login.
type Subscription struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Integration is one Azure integration the generator creates and logs in
// through leapp-core's AzureIntegrationService. Its `az login` leaves the
// files of AZLoginDir when set (a real login's, whose tokens an emulator
// honours), else ones made from Username, ObjectID, RefreshToken and
// Subscriptions.
type Integration struct {
	Alias         string         `json:"alias"`
	TenantID      string         `json:"tenantId"`
	Region        string         `json:"region,omitempty"`
	Username      string         `json:"username"`
	ObjectID      string         `json:"objectId"`
	RefreshToken  string         `json:"refreshToken"`
	Subscriptions []Subscription `json:"subscriptions"`
	// AZLoginDir is an Azure CLI config dir a login wrote
	// (msal_token_cache.json and azureProfile.json).
	AZLoginDir string `json:"azLoginDir,omitempty"`
}

// IAMUser is one AWS IAM user session.
type IAMUser struct {
	SessionName string `json:"sessionName"`
	Region      string `json:"region"`
	AccessKey   string `json:"accessKey"`
	SecretKey   string `json:"secretKey"`
}

// Spec is what the generator writes.
type Spec struct {
	MachineID    string        `json:"machineId"`
	Integrations []Integration `json:"integrations"`
	AWSIAMUsers  []IAMUser     `json:"awsIamUsers"`
}

// TwoTenants is the fixture of the import tests: two Azure integrations
// (one with an alias azkeep must rewrite) with five sessions in all, and
// one AWS session.
func TwoTenants() Spec {
	return Spec{
		MachineID: MachineID,
		Integrations: []Integration{
			{
				Alias: "Contoso Prod", TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", Region: "westeurope",
				Username: "ada@contoso.example", ObjectID: "6a4c9f1e-0d2b-4c3a-9e8f-1b2c3d4e5f60", RefreshToken: "leapp-fixture-rt-contoso",
				Subscriptions: []Subscription{
					{"0b1f6471-1bf0-4dda-aec3-cb9272f09591", "Contoso Dev"},
					{"0b1f6471-1bf0-4dda-aec3-cb9272f09592", "Contoso Prod"},
					{"0b1f6471-1bf0-4dda-aec3-cb9272f09593", "Contoso Shared"},
				},
			},
			{
				Alias: "fabrikam", TenantID: "3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d",
				Username: "bob@fabrikam.example", ObjectID: "7b5d0a2f-1e3c-4d4b-8f9a-2c3d4e5f6a71", RefreshToken: "leapp-fixture-rt-fabrikam",
				Subscriptions: []Subscription{
					{"1c2f7582-2cf1-4eeb-bfd4-dc0383f1a6a1", "Fabrikam One"},
					{"1c2f7582-2cf1-4eeb-bfd4-dc0383f1a6a2", "Fabrikam Two"},
				},
			},
		},
		AWSIAMUsers: []IAMUser{{SessionName: "aws-dev", Region: "eu-west-1", AccessKey: "AKIAFIXTURE", SecretKey: "leapp-fixture-aws-secret"}},
	}
}

// Options tune Generate.
type Options struct {
	// SecretTool also stores the keychain items in the Secret Service
	// with `secret-tool`, under keytar's attributes.
	SecretTool bool
}

// Workspace is a generated Leapp home.
type Workspace struct {
	// Dir is Leapp's dir (HOME/.Leapp).
	Dir string
	// Items are the keytar items leapp-core stored (service "Leapp"),
	// by account.
	Items map[string]string
}

// Generate writes a Leapp home for spec with leapp-core.
func Generate(t testing.TB, spec Spec, opts Options) *Workspace {
	t.Helper()
	modules := install(t)
	home := t.TempDir()
	specPath := filepath.Join(t.TempDir(), "spec.json")
	secrets := filepath.Join(t.TempDir(), "secrets.json")
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(specPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{genJS(t), "--spec", specPath, "--home", home, "--secrets-file", secrets}
	if opts.SecretTool {
		args = append(args, "--secret-tool")
	}
	cmd := exec.Command("node", args...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.js: %v\n%s", err, out)
	}
	items := map[string]string{}
	raw, err := os.ReadFile(secrets)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatal(err)
	}
	return &Workspace{Dir: filepath.Join(home, ".Leapp"), Items: items}
}

// NodeMachineID runs node-machine-id's machineIdSync() on this machine.
func NodeMachineID(t testing.TB) string {
	t.Helper()
	modules := install(t)
	cmd := exec.Command("node", genJS(t), "--machine-id")
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gen.js --machine-id: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// genDir is the generator's dir in the repository.
func genDir(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the generator")
	}
	return filepath.Join(filepath.Dir(file), "..", "testdata", "gen")
}

func genJS(t testing.TB) string { return filepath.Join(genDir(t), "gen.js") }

// install returns a node_modules dir holding the generator's pinned
// packages (testbed.NPMModules).
func install(t testing.TB) string {
	t.Helper()
	return testbed.NPMModules(t, filepath.Join(genDir(t), "package.json"), "the Leapp fixture generator (leapp-core)")
}
