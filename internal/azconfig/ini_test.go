package azconfig

import (
	"os"
	"path/filepath"
	"testing"
)

func TestINIEditKeepsCommentsAndOrder(t *testing.T) {
	dir := t.TempDir()
	in := "# my settings\n[core]\noutput = table\n; keep me\ncollect_telemetry = yes\n\n[defaults]\ngroup = rg\n\n[extension]\nuse_dynamic_install = yes_without_prompt\n"
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte(in), 0o644)
	if err := SetDefaultLocation(dir, "westeurope"); err != nil {
		t.Fatal(err)
	}
	if err := SetCore(dir, CoreCollectTelemetry, "false"); err != nil {
		t.Fatal(err)
	}
	if err := SetActiveCloud(dir, "AzureUSGovernment"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	want := "# my settings\n[core]\noutput = table\n; keep me\ncollect_telemetry = false\n\n[defaults]\ngroup = rg\nlocation = westeurope\n\n[extension]\nuse_dynamic_install = yes_without_prompt\n\n[cloud]\nname = AzureUSGovernment\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if st, _ := os.Stat(filepath.Join(dir, ConfigFile)); st.Mode().Perm() != 0o644 {
		t.Errorf("mode changed to %v", st.Mode())
	}
	if loc, _ := DefaultLocation(dir); loc != "westeurope" {
		t.Errorf("location %q", loc)
	}
	if c, _ := ActiveCloud(dir); c != "AzureUSGovernment" {
		t.Errorf("cloud %q", c)
	}
	if v, _ := Core(dir, "OUTPUT"); v != "table" {
		t.Errorf("keys are case-insensitive: %q", v)
	}
}

func TestINIFreshDir(t *testing.T) {
	dir := t.TempDir()
	if c, err := ActiveCloud(dir); err != nil || c != DefaultCloud {
		t.Errorf("%q %v", c, err)
	}
	if err := SetCloudSubscription(dir, "AzureCloud", "sub-1"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, CloudsFile))
	if string(got) != "[AzureCloud]\nsubscription = sub-1\n\n" {
		t.Errorf("got %q", got)
	}
	if st, _ := os.Stat(filepath.Join(dir, CloudsFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if s, _ := CloudSubscription(dir, "AzureCloud"); s != "sub-1" {
		t.Errorf("sub %q", s)
	}
	if err := SetCloudSubscription(dir, "AzureCloud", ""); err != nil {
		t.Fatal(err)
	}
	if s, _ := CloudSubscription(dir, "AzureCloud"); s != "" {
		t.Errorf("sub %q after removal", s)
	}
	if err := DisableBroker(dir); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(filepath.Join(dir, ConfigFile))
	if string(got) != "[core]\nenable_broker_on_windows = false\nallow_broker = false\n\n" {
		t.Errorf("got %q", got)
	}
	// No change, no write.
	dir2 := t.TempDir()
	if err := SetDefaultLocation(dir2, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, ConfigFile)); !os.IsNotExist(err) {
		t.Error("config created by a no-op")
	}
}

func TestINIParseOddities(t *testing.T) {
	f := ParseINI([]byte("\ufeff[a]\r\nk: v\r\n  continued = no\n[b]\nk=w"))
	if v, _ := f.Get("a", "k"); v != "v" {
		t.Errorf("a.k %q", v)
	}
	if _, ok := f.Get("a", "continued"); ok {
		t.Error("continuation line read as a key")
	}
	if v, _ := f.Get("b", "k"); v != "w" {
		t.Errorf("b.k %q", v)
	}
	f.Set("b", "k", "x")
	if string(f.Bytes()) != "[a]\nk: v\n  continued = no\n[b]\nk = x" {
		t.Errorf("%q", f.Bytes())
	}
}

// The real az 2.45's files: azkeep's edits give the bytes az's own
// commands give.
func TestINIEditsMatchAz(t *testing.T) {
	az := "../../testdata/az245/"
	if _, err := os.Stat(az); err != nil {
		t.Skip("no az245 golden files")
	}
	copyTo := func(dir, src, name string) {
		b, err := os.ReadFile(az + src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	same := func(dir, name, want string) {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		w, _ := os.ReadFile(az + want)
		if string(got) != string(w) {
			t.Errorf("%s:\n%q\nwant\n%q", name, got, w)
		}
	}
	dir := t.TempDir()
	copyTo(dir, "device-code-login/config", ConfigFile)
	copyTo(dir, "device-code-login/clouds.config", CloudsFile)
	// az configure --defaults location=westeurope
	if err := SetDefaultLocation(dir, "westeurope"); err != nil {
		t.Fatal(err)
	}
	same(dir, ConfigFile, "configure-defaults/config")
	// az account set --subscription 7f929b58-…
	if err := SetCloudSubscription(dir, "AzureCloud", "7f929b58-00d7-45b8-b511-87715cceda6e"); err != nil {
		t.Fatal(err)
	}
	same(dir, CloudsFile, "account-set/clouds.config")
	// A fresh clouds.config as az login writes it.
	dir2 := t.TempDir()
	if err := SetCloudSubscription(dir2, "AzureCloud", "271fb85b-8ec8-4395-be3c-b98563b29975"); err != nil {
		t.Fatal(err)
	}
	same(dir2, CloudsFile, "device-code-login/clouds.config")
}
