package azconfig

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProfileGoldenRoundTrip(t *testing.T) {
	files := goldenFiles(t, "azureProfile.json")
	if len(files) < 2 {
		t.Fatalf("only %d golden profiles", len(files))
	}
	for name, b := range files {
		p, err := ParseProfile(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, _ := p.Marshal()
		if !bytes.Equal(out, b) {
			t.Errorf("%s: round trip differs:\n%q\n%q", name, out, b)
		}
	}
}

func TestProfileFields(t *testing.T) {
	p, err := ParseProfile(golden(t, "login.azureProfile.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Subscriptions) != 2 || p.InstallationID == "" {
		t.Fatalf("%+v", p)
	}
	d, ok := p.Default()
	if !ok || d.Name != "Contoso Dev" || d.User.Name != "jürgen@contoso.example" || d.User.Type != "user" ||
		d.TenantID != tTenant || d.HomeTenantID != tTenant || d.EnvironmentName != "AzureCloud" || d.State != "Enabled" {
		t.Errorf("%+v", d)
	}
	if s, ok := p.Find(strings.ToUpper(p.Subscriptions[1].ID)); !ok || s.Name != "Contoso Prod – EU" {
		t.Errorf("find: %+v", s)
	}
	if n := len(p.ForTenant(tTenant)); n != 2 {
		t.Errorf("ForTenant: %d", n)
	}
}

func TestWriteSingleSubscriptionKeepsInstallationIDAndUnknownFields(t *testing.T) {
	dir := t.TempDir()
	// A newer az adds members azkeep does not know: they must travel.
	in := "\ufeff" + `{"subscriptions": [{"id": "s1", "name": "One", "state": "Enabled", "user": {"name": "u@x", "type": "user"}, "isDefault": false, "tenantId": "t", "environmentName": "AzureCloud", "homeTenantId": "t", "tenantDisplayName": "Contoso", "managedByTenants": [{"tenantId": "m"}]}], "installationId": "inst", "future": 1}`
	login, err := ParseProfile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	// Through the vault as JSON and back.
	b, _ := json.Marshal(login.Subscriptions[0])
	var sub Subscription
	if err := json.Unmarshal(b, &sub); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ProfileFile), []byte("\ufeff"+`{"subscriptions": [], "installationId": "target-inst"}`), 0o600)
	if err := WriteSingleSubscription(context.Background(), dir, sub); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, ProfileFile))
	want := "\ufeff" + `{"subscriptions": [{"id": "s1", "name": "One", "state": "Enabled", "user": {"name": "u@x", "type": "user"}, "isDefault": true, "tenantId": "t", "environmentName": "AzureCloud", "homeTenantId": "t", "tenantDisplayName": "Contoso", "managedByTenants": [{"tenantId": "m"}]}], "installationId": "target-inst"}`
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if st, _ := os.Stat(filepath.Join(dir, ProfileFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	if err := ClearSubscriptions(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(filepath.Join(dir, ProfileFile))
	if string(got) != "\ufeff"+`{"subscriptions": [], "installationId": "target-inst"}` {
		t.Errorf("after clear: %s", got)
	}
}

func TestNewSubscriptionHasAzShape(t *testing.T) {
	p := &Profile{}
	p.SetSingle(Subscription{ID: "s", Name: "N", State: "Enabled", User: User{"u", "user"}, TenantID: "t", EnvironmentName: "AzureCloud", HomeTenantID: "t"})
	b, _ := p.Marshal()
	want := "\ufeff" + `{"subscriptions": [{"id": "s", "name": "N", "state": "Enabled", "user": {"name": "u", "type": "user"}, "isDefault": true, "tenantId": "t", "environmentName": "AzureCloud", "homeTenantId": "t", "managedByTenants": []}]}`
	if string(b) != want {
		t.Errorf("got\n%s", b)
	}
}

func TestProfileErrorsLeaveFileAlone(t *testing.T) {
	for _, in := range []string{`[]`, `{"subscriptions": {}}`, `{"subscriptions": [1]}`, `{"subscriptions": [{"name": "no id"}]}`, "{\"subscriptions\": [", "\ufeff\ufeff{}"} {
		dir := t.TempDir()
		p := filepath.Join(dir, ProfileFile)
		os.WriteFile(p, []byte(in), 0o600)
		err := UpdateProfile(context.Background(), dir, func(p *Profile) error { p.Subscriptions = nil; return nil })
		if err == nil {
			t.Errorf("%q: no error", in)
		}
		if b, _ := os.ReadFile(p); string(b) != in {
			t.Errorf("%q: rewritten to %q", in, b)
		}
	}
	// A missing profile reads as empty and is not created by a no-op.
	dir := t.TempDir()
	if err := UpdateProfile(context.Background(), dir, func(*Profile) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ProfileFile)); !os.IsNotExist(err) {
		t.Errorf("profile created")
	}
}
