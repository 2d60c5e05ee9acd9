//go:build windows

package azconfig

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// On Windows az keeps the cache in msal_token_cache.bin, DPAPI-protected
// for the current user.
func TestDPAPICacheRoundTrip(t *testing.T) {
	plain := golden(t, "login.msal_token_cache.json")
	sealed, err := protect(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("rt-1.fake")) {
		t.Fatal("protected data holds the plain text")
	}
	back, err := unprotect(sealed)
	if err != nil || !bytes.Equal(back, plain) {
		t.Fatalf("unprotect: %v", err)
	}
	dir := t.TempDir()
	t.Setenv("AZURE_CORE_ENCRYPT_TOKEN_CACHE", "")
	os.Unsetenv("AZURE_CORE_ENCRYPT_TOKEN_CACHE")
	p, enc, err := TokenCachePath(dir)
	if err != nil || !enc || filepath.Base(p) != TokenCacheBin {
		t.Fatalf("%s %v %v", p, enc, err)
	}
	os.WriteFile(p, sealed, 0o600)
	if err := UpdateTokenCache(context.Background(), dir, func(c *TokenCache) error {
		c.RemoveRefreshTokens("")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c, err := LoadTokenCache(dir)
	if err != nil || c.RefreshTokens.Len() != 0 || c.Accounts.Len() != 1 {
		t.Fatalf("%v", err)
	}
}
