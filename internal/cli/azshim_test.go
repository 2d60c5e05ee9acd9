package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/lifecycle"
)

// The command lines the SDKs' AzureCliCredential run are the shim's;
// anything else goes to the real az.
func TestParseGetAccessToken(t *testing.T) {
	for _, tc := range []struct {
		args string
		want getAccessToken
		ok   bool
	}{
		// @azure/identity, azure-identity (Python), Azure.Identity (.NET)
		{"account get-access-token --output json --resource https://management.azure.com", getAccessToken{scope: "https://management.azure.com/.default", output: "json"}, true},
		{"account get-access-token --output json --resource https://vault.azure.net --tenant t1", getAccessToken{scope: "https://vault.azure.net/.default", output: "json", tenant: "t1"}, true},
		// azidentity (Go)
		{"account get-access-token -o json --resource https://management.core.windows.net/ --subscription s1", getAccessToken{scope: "https://management.core.windows.net//.default", output: "json", subscription: "s1"}, true},
		{"account get-access-token --scope=https://graph.microsoft.com/.default", getAccessToken{scope: "https://graph.microsoft.com/.default"}, true},
		{"account get-access-token --query accessToken -o tsv --only-show-errors", getAccessToken{scope: defaultTokenScope, output: "tsv", query: "accessToken"}, true},
		{"account get-access-token", getAccessToken{scope: defaultTokenScope}, true},
		{"account show", getAccessToken{}, false},
		{"account get-access-token --resource-type ms-graph", getAccessToken{}, false},
		{"account get-access-token --scope a/.default b/.default", getAccessToken{}, false},
		{"account get-access-token --query [accessToken]", getAccessToken{}, false},
		{"account get-access-token --debug", getAccessToken{}, false},
		{"account get-access-token --tenant t1 --subscription s1", getAccessToken{}, false},
		{"account get-access-token --resource", getAccessToken{}, false},
	} {
		got, ok := parseGetAccessToken(strings.Fields(tc.args))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tc.args, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAZShimArgs(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		ok   bool
	}{
		{[]string{"az", "account", "show"}, true},
		{[]string{"/tmp/x/azkeep-az-shim/az", "version"}, true},
		{[]string{`C:\bin\azkeep.exe`, azShimArg, "version"}, true},
		{[]string{"azkeep", "token"}, false},
		{[]string{"/usr/bin/azkeep", "exec", "s", "--", "az"}, false},
	} {
		args, ok := AZShimArgs(tc.argv)
		if ok != tc.ok || (ok && args[len(args)-1] != tc.argv[len(tc.argv)-1]) {
			t.Errorf("%q: %q %v", tc.argv, args, ok)
		}
	}
}

func TestWriteShimToken(t *testing.T) {
	tok := &lifecycle.Token{AccessToken: "a.b.c", ExpiresOn: time.Unix(1700000000, 0), SubscriptionID: "s1", TenantID: "t1"}
	exp := tok.ExpiresOn.Local().Format("2006-01-02 15:04:05.000000")
	for _, tc := range []struct {
		req  getAccessToken
		want string
	}{
		{getAccessToken{output: "tsv"}, "a.b.c\t" + exp + "\t1700000000\ts1\tt1\tBearer\n"},
		{getAccessToken{output: "tsv", tenant: "t1"}, "a.b.c\t" + exp + "\t1700000000\tt1\tBearer\n"},
		{getAccessToken{output: "tsv", query: "accessToken"}, "a.b.c\n"},
		{getAccessToken{output: "json", query: "expires_on"}, "1700000000\n"},
		{getAccessToken{output: "json", query: "tenant"}, "\"t1\"\n"},
		{getAccessToken{output: "none"}, ""},
	} {
		var b bytes.Buffer
		if err := writeShimToken(&b, tok, tc.req); err != nil || b.String() != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.req, b.String(), err, tc.want)
		}
	}
}

// env --az-shim puts the shim first on PATH, once; without it an earlier
// shim comes off PATH.
func TestShimVars(t *testing.T) {
	self := filepath.Join(t.TempDir(), "azkeep")
	if err := os.WriteFile(self, nil, 0o700); err != nil {
		t.Fatal(err)
	}
	sep := string(os.PathListSeparator)
	old := filepath.Join("old", azShimDir)
	environ := []string{"PATH=" + strings.Join([]string{"a", old, "b"}, sep), "AZKEEP_AZ=/usr/bin/az"}
	set, err := shimVars(environ, "dir", self, "home", false)
	if err != nil || len(set) != 1 || set[0] != [2]string{"PATH", "a" + sep + "b"} {
		t.Errorf("without --az-shim: %v, %v", set, err)
	}
	if set, _ := shimVars([]string{"PATH=a"}, "dir", self, "home", false); set != nil {
		t.Errorf("no shim, no --az-shim: %v", set)
	}
	dir := t.TempDir()
	set, err = shimVars(environ, dir, self, "home", true)
	want := [][2]string{{"PATH", strings.Join([]string{filepath.Join(dir, azShimDir), "a", "b"}, sep)}, {"AZKEEP_HOME", "home"}}
	if err != nil || !slices.Equal(set, want) {
		t.Errorf("--az-shim: %v, %v; want %v", set, err, want)
	}
	if _, err := shimVars(environ, dir, "", "home", true); err == nil {
		t.Error("no executable, yet a shim")
	}
}
