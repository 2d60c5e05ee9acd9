package testbed

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TokenCache is msal_token_cache.json decoded loosely: section → key → fields.
type TokenCache map[string]map[string]map[string]any

// CachePath is the token cache file of config dir dir.
func CachePath(dir string) string { return filepath.Join(dir, "msal_token_cache.json") }

// ReadTokenCache decodes dir's msal_token_cache.json (empty when missing).
func ReadTokenCache(t testing.TB, dir string) TokenCache {
	t.Helper()
	data, err := os.ReadFile(CachePath(dir))
	if os.IsNotExist(err) {
		return TokenCache{}
	}
	if err != nil {
		t.Fatal(err)
	}
	var c TokenCache
	if err := json.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &c); err != nil {
		t.Fatalf("decode %s: %v", CachePath(dir), err)
	}
	return c
}

// DeleteCacheSections empties the named sections of dir's token cache
// (e.g. "AccessToken", "RefreshToken"), writing it back as az does
// (indent 4, mode 0600). Test set-up only: it does not take az's lock.
func DeleteCacheSections(t testing.TB, dir string, sections ...string) {
	t.Helper()
	c := ReadTokenCache(t, dir)
	for _, s := range sections {
		c[s] = map[string]map[string]any{}
	}
	data, err := json.MarshalIndent(c, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(CachePath(dir), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// AccessToken is the JSON `az account get-access-token` prints.
type AccessToken struct {
	AccessToken  string `json:"accessToken"`
	ExpiresOn    string `json:"expiresOn"`
	Subscription string `json:"subscription"`
	Tenant       string `json:"tenant"`
	TokenType    string `json:"tokenType"`
}

// ParseAccessToken decodes the output of az account get-access-token.
func ParseAccessToken(t testing.TB, r Result) AccessToken {
	t.Helper()
	var at AccessToken
	if err := json.Unmarshal([]byte(r.Stdout), &at); err != nil || at.AccessToken == "" {
		t.Fatalf("az account get-access-token printed no token (%v): %s", err, r)
	}
	return at
}

// Account is one entry of `az account list` / `az account show`.
type Account struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	State     string `json:"state"`
	TenantID  string `json:"tenantId"`
	IsDefault bool   `json:"isDefault"`
	User      struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"user"`
}

// ParseAccounts decodes the JSON list az login / az account list print.
func ParseAccounts(t testing.TB, r Result) []Account {
	t.Helper()
	var out []Account
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("decode account list: %v: %s", err, r)
	}
	return out
}

// WriteTokenCache writes c as dir's msal_token_cache.json the way az does
// (indent 4, mode 0600). Test set-up only.
func WriteTokenCache(t testing.TB, dir string, c TokenCache) {
	t.Helper()
	data, err := json.MarshalIndent(c, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(CachePath(dir), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// SortScopes returns a cache target (scopes separated by spaces) with its
// scopes sorted. az 2.45 keeps the token answer's order in cache keys and
// targets, az 2.74 (MSAL Python 1.32) sorts them, and each serves the
// other's order from its cache: tests compare targets, and the keys that
// end in them, through it.
func SortScopes(target string) string {
	scopes := strings.Fields(target)
	sort.Strings(scopes)
	return strings.Join(scopes, " ")
}

// SortKeyScopes returns a cache key whose last part is target (either
// order) with that part sorted; other keys unchanged.
func SortKeyScopes(key, target string) string {
	if target == "" {
		return key
	}
	for _, t := range []string{strings.ToLower(target), strings.ToLower(SortScopes(target))} {
		if k, ok := strings.CutSuffix(key, "-"+t); ok {
			return k + "-" + strings.ToLower(SortScopes(target))
		}
	}
	return key
}
