package azconfig

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseTokenCache: any input parses or fails with an error, never
// panics; what parses writes back and re-reads to the same bytes; and a
// cache that does not parse is never rewritten by UpdateTokenCache.
func FuzzParseTokenCache(f *testing.F) {
	for _, b := range goldenFiles(f, "msal_token_cache.json") {
		f.Add(b)
	}
	f.Add([]byte(`{"AccessToken": {"k": {"secret": null, "x": [1, {"y": "\u00e9"}]}}}`))
	f.Add([]byte("\ufeff{}"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseTokenCache(data)
		if err != nil {
			p := filepath.Join(dir, TokenCacheJSON)
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := UpdateTokenCache(context.Background(), dir, func(c *TokenCache) error {
				t.Fatal("fn called on a malformed cache")
				return nil
			}); err == nil {
				t.Fatal("no error from UpdateTokenCache")
			}
			if b, _ := os.ReadFile(p); !bytes.Equal(b, data) {
				t.Fatal("malformed cache rewritten")
			}
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := ParseTokenCache(out)
		if err != nil {
			t.Fatalf("re-parse of our own output: %v\n%s", err, out)
		}
		out2, err := c2.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}

// FuzzParseProfile: the same properties for azureProfile.json.
func FuzzParseProfile(f *testing.F) {
	for _, b := range goldenFiles(f, "azureProfile.json") {
		f.Add(b)
	}
	f.Add([]byte(`{"subscriptions": [{"id": "x", "user": null, "isDefault": 1, "managedByTenants": null}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProfile(data)
		if err != nil {
			path := filepath.Join(dir, ProfileFile)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := UpdateProfile(context.Background(), dir, func(*Profile) error {
				t.Fatal("fn called on a malformed profile")
				return nil
			}); err == nil {
				t.Fatal("no error from UpdateProfile")
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
				t.Fatal("malformed profile rewritten")
			}
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p2, err := ParseProfile(out)
		if err != nil {
			t.Fatalf("re-parse of our own output: %v\n%s", err, out)
		}
		out2, _ := p2.Marshal()
		if !bytes.Equal(out, out2) {
			t.Fatalf("not stable:\n%s\n%s", out, out2)
		}
	})
}
