// Package azconfigtest holds test helpers on the Azure CLI's files that
// import azconfig (which testbed, imported by azconfig's own tests, must
// not).
package azconfigtest

import (
	"testing"

	"github.com/azkeep/azkeep/internal/azconfig"
)

// VaultItems reads dir's token cache and returns what azkeep's vault keeps
// after a login there: the account's home id, the account fragment (Account
// and AppMetadata entries) and the refresh-token fragment.
func VaultItems(t testing.TB, dir string) (home string, account, refreshToken []byte) {
	t.Helper()
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	af, rf := &azconfig.TokenCache{}, &azconfig.TokenCache{}
	for _, a := range c.Accounts.All() {
		af.PutAccount(a)
		home = a.HomeAccountID
	}
	for k, m := range c.AppMetadata.All() {
		af.AppMetadata.Put(k, m)
	}
	for _, r := range c.RefreshTokens.All() {
		rf.PutRefreshToken(r)
	}
	if account, err = af.Marshal(); err != nil {
		t.Fatal(err)
	}
	if refreshToken, err = rf.Marshal(); err != nil {
		t.Fatal(err)
	}
	return home, account, refreshToken
}
