package azconfig

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tests against the files the real az 2.45 wrote (testdata/az245, by the
// EMU helper): each azkeep edit must give the bytes az's own command gave.

const az245 = "../../testdata/az245/"

func az245File(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(az245 + rel)
	if err != nil {
		t.Skipf("no az245 golden file: %v", err)
	}
	return b
}

// A refresh grant as az records it (device-code-login → vault-token: az
// account get-access-token --resource https://vault.azure.net), replayed
// through AddRefreshAnswer from the answer's values found in the result.
func TestAz245RefreshAnswerMatchesAz(t *testing.T) {
	before := az245File(t, "device-code-login/msal_token_cache.json")
	want := az245File(t, "vault-token/msal_token_cache.json")
	c, err := ParseTokenCache(before)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ParseTokenCache(want)
	if err != nil {
		t.Fatal(err)
	}
	var at *AccessToken
	for k, e := range w.AccessTokens.All() {
		if _, ok := c.AccessTokens.Get(k); !ok {
			at = e
		}
	}
	var idt *IDToken
	for _, e := range w.IDTokens.All() {
		idt = e
	}
	var newRT *RefreshToken
	for _, e := range w.RefreshTokens.All() {
		newRT = e
	}
	if at == nil || idt == nil || newRT == nil {
		t.Fatal("golden files lack the expected entries")
	}
	acct, _ := c.FindAccount(at.HomeAccountID, at.Realm)
	uid, utid, _ := strings.Cut(acct.HomeAccountID, ".")
	ci := base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"` + uid + `","utid":"` + utid + `"}`))
	cached, _ := ParseEpoch(at.CachedAt)
	exp, _ := ParseEpoch(at.ExpiresOn)
	ext, _ := ParseEpoch(at.ExtendedExpiresOn)
	rt, ok := c.RefreshToken(acct.HomeAccountID, acct.Environment, at.ClientID)
	if !ok {
		t.Fatal("no refresh token before")
	}
	_, err = c.AddRefreshAnswer(rt.Key(), TokenEvent{
		ClientID: at.ClientID, Environment: at.Environment, Realm: at.Realm,
		Response: TokenResponse{
			TokenType: "Bearer", Scope: at.Target,
			ExpiresIn: Seconds(exp.Sub(cached) / time.Second), ExtExpiresIn: Seconds(ext.Sub(cached) / time.Second),
			AccessToken: at.Secret, RefreshToken: newRT.Secret, IDToken: idt.Secret, ClientInfo: ci, Foci: newRT.FamilyID,
		},
		Now: cached,
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := c.Marshal()
	if !bytes.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// az logout: the token sections emptied, AppMetadata kept; the profile
// left as {"subscriptions": []}.
func TestAz245LogoutMatchesAz(t *testing.T) {
	c, err := ParseTokenCache(az245File(t, "vault-token/msal_token_cache.json"))
	if err != nil {
		t.Fatal(err)
	}
	var home string
	for _, a := range c.Accounts.All() {
		home = a.HomeAccountID
	}
	c.RemoveAccount(home, "")
	got, _ := c.Marshal()
	if want := az245File(t, "logout/msal_token_cache.json"); !bytes.Equal(got, want) {
		t.Errorf("cache got\n%s\nwant\n%s", got, want)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ProfileFile), az245File(t, "account-set/azureProfile.json"), 0o600)
	if err := ClearSubscriptions(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	gotP, _ := os.ReadFile(filepath.Join(dir, ProfileFile))
	if want := az245File(t, "logout/azureProfile.json"); !bytes.Equal(gotP, want) {
		t.Errorf("profile got %q want %q", gotP, want)
	}
}

// az account set: isDefault moves.
func TestAz245AccountSetMatchesAz(t *testing.T) {
	p, err := ParseProfile(az245File(t, "device-code-login/azureProfile.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Subscriptions {
		s.IsDefault = s.ID == "7f929b58-00d7-45b8-b511-87715cceda6e"
	}
	got, _ := p.Marshal()
	if want := az245File(t, "account-set/azureProfile.json"); !bytes.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
