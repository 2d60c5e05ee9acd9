package testbed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/entraemu"
)

func TestScanSecretsGoldenCache(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "az245", "vault-token")
	fs := ScanSecrets(dir)
	if got := len(RefreshTokens(fs)); got != 1 {
		t.Errorf("refresh tokens = %d, want 1: %v", got, fs)
	}
	if got := len(OfKind(fs, KindAccessToken)); got != 2 {
		t.Errorf("access tokens = %d, want 2: %v", got, fs)
	}
	if got := len(OfKind(fs, KindIDToken)); got != 1 {
		t.Errorf("id tokens = %d, want 1: %v", got, fs)
	}
	for _, f := range fs {
		if f.Section == "" || f.Key == "" || f.Path != "msal_token_cache.json" {
			t.Errorf("cache finding without its place: %+v", f)
		}
	}
	if fs := ScanSecrets(filepath.Join("..", "..", "testdata", "az245", "logout")); len(fs) != 0 {
		t.Errorf("after logout: %v", fs)
	}
}

// Refresh tokens are found by their shape outside the cache too: in az.sess,
// binary files, logs, nested dirs; a foreign (real Entra) refresh token is
// found through the cache section.
func TestScanSecretsAnywhere(t *testing.T) {
	dir := t.TempDir()
	emuRT := entraemu.RefreshTokenPrefix + strings.Repeat("A1b2_-", 10)
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("az.sess", "\ufeff{\"last\": \""+emuRT+"\"}")
	write("msal_http_cache.bin", "\x80\x04\x95pickle\x00"+emuRT+"\x00\xff")
	write("logs/deep/x.log", "token="+emuRT+" and again "+emuRT)
	write("msal_token_cache.json", `{"RefreshToken": {"k": {"secret": "0.AXkAreal-entra-token"}}, "AccessToken": {}}`)
	write("clean.json", `{"subscriptions": []}`)
	fs := ScanSecrets(dir)
	byPath := map[string]int{}
	for _, f := range fs {
		if f.Kind != KindRefreshToken {
			t.Errorf("unexpected %v", f)
		}
		byPath[f.Path]++
		if strings.Contains(f.String(), "A1b2") || strings.Contains(f.String(), "real-entra") {
			t.Fatal("a finding prints the token")
		}
	}
	want := map[string]int{"az.sess": 1, "msal_http_cache.bin": 1, filepath.Join("logs", "deep", "x.log"): 1, "msal_token_cache.json": 1}
	for p, n := range want {
		if byPath[p] != n {
			t.Errorf("%s: %d findings, want %d (all: %v)", p, byPath[p], n, fs)
		}
	}
	if fs[0].Fingerprint == "" || Fingerprint(emuRT) != OfKind(fs, KindRefreshToken)[0].Fingerprint {
		t.Errorf("fingerprints: %v", fs)
	}
}

func TestScanSecretsServicePrincipal(t *testing.T) {
	fs := ScanSecrets(filepath.Join("..", "..", "testdata", "az245", "service-principal"))
	if n := len(OfKind(fs, KindClientSecret)); n != 1 {
		t.Errorf("client secrets = %d, want 1: %v", n, fs)
	}
	if n := len(OfKind(fs, KindAccessToken)); n != 1 {
		t.Errorf("access tokens = %d, want 1: %v", n, fs)
	}
	if n := len(RefreshTokens(fs)); n != 0 {
		t.Errorf("a service principal has no refresh token: %v", fs)
	}
}
