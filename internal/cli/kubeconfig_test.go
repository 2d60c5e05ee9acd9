package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/workspace"
)

// kubeState has two sessions of tenant 1111… in one integration (the second
// active), one of tenant 2222…, and tenant 3333… reached by two
// integrations.
func kubeState() *workspace.State {
	return &workspace.State{Sessions: []workspace.Session{
		{ID: "s-prod-old", SubscriptionName: "Prod old", TenantID: "11111111-1111-1111-1111-111111111111", IntegrationID: "i-a"},
		{ID: "s-prod", SubscriptionName: "Prod", TenantID: "11111111-1111-1111-1111-111111111111", IntegrationID: "i-a", ConfigDir: "/home/u/.azure"},
		{ID: "s-legacy", SubscriptionName: "Legacy", TenantID: "22222222-2222-2222-2222-222222222222", IntegrationID: "i-b"},
		{ID: "s-dev", SubscriptionName: "Dev", TenantID: "33333333-3333-3333-3333-333333333333", IntegrationID: "i-c"},
		{ID: "s-dev-guest", SubscriptionName: "Dev guest", TenantID: "33333333-3333-3333-3333-333333333333", IntegrationID: "i-d"},
	}}
}

// Each input of testdata/kubeconfig converts to its .out.yaml: kubelogin
// devicecode (pinned by tenant to the active session, the spn user left),
// azurecli (no tenant: pinned by --session), the legacy auth-provider.
func TestKubeconfigConvertGolden(t *testing.T) {
	for _, tc := range []struct {
		name, session string
		users         int
	}{
		{"devicecode", "", 1},
		{"azurecli", "Dev", 1},
		{"authprovider", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "kubeconfig", tc.name+".in.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			out, n, err := convertKubeconfig(in, kubeState(), tc.session)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.users {
				t.Errorf("converted %d users, want %d", n, tc.users)
			}
			golden(t, filepath.Join("kubeconfig", tc.name+".out.yaml"), out)
		})
	}
}

// A user azkeep cannot pin to one session is refused, with a hint.
func TestKubeconfigConvertRefuses(t *testing.T) {
	user := func(args string) []byte {
		return []byte("users:\n- name: u\n  user:\n    exec:\n      command: kubelogin\n      args: [get-token, " + args + "]\n")
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"no tenant", user("--login, azurecli"), `user "u" names no tenant`},
		{"unknown tenant", user("--tenant-id, 44444444-4444-4444-4444-444444444444"), "no session of tenant 44444444"},
		{"two integrations", user("-t, 33333333-3333-3333-3333-333333333333"), "several integrations"},
		{"not yaml", []byte("users: [\n"), "yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := convertKubeconfig(tc.in, kubeState(), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// --write replaces the file (0600) and keeps the old one as FILE.bak.
func TestKubeconfigConvertWrite(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "kubeconfig", "authprovider.in.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(file, in, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	opts := &KubeconfigConvertOptions{IO: IO{Out: &out, Err: &errw}, File: file, Write: true,
		State: func(context.Context) (*workspace.State, error) { return kubeState(), nil }}
	if err := kubeconfigConvertRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("stdout: %q", out.String())
	}
	got, _ := os.ReadFile(file)
	want, _ := os.ReadFile(filepath.Join("testdata", "kubeconfig", "authprovider.out.yaml"))
	if !bytes.Equal(got, want) {
		t.Errorf("written file differs from authprovider.out.yaml:\n%s", got)
	}
	if bak, _ := os.ReadFile(file + ".bak"); !bytes.Equal(bak, in) {
		t.Error("FILE.bak is not the old file")
	}
	if fi, err := os.Stat(file); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Errorf("mode: %v, %v", fi.Mode(), err)
	}
	if !strings.Contains(errw.String(), "converted 1 user(s)") {
		t.Errorf("stderr: %q", errw.String())
	}
}
