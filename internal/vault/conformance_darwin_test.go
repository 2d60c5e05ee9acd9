//go:build darwin

package vault

import (
	"os"
	"testing"
)

// On macOS the suite also runs against the login Keychain, under a
// throwaway service name, when AZKEEP_TEST_KEYCHAIN=1 (it may show Keychain
// prompts, so it is opt-in outside CI).
func init() {
	osFixtures = append(osFixtures, fixture{"keychain", func(t *testing.T) (Store, *childSpec) {
		need(t, os.Getenv("AZKEEP_TEST_KEYCHAIN") == "1", "the macOS Keychain (AZKEEP_TEST_KEYCHAIN=1)")
		return openSpec(t, childSpec{Backend: Keychain, Home: t.TempDir(), Service: "azkeep-test-" + randHex(6)})
	}})
}
