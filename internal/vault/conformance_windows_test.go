//go:build windows

package vault

import (
	"os"
	"testing"
)

// On Windows the suite also runs against the Credential Manager, under a
// throwaway service name, when AZKEEP_TEST_WINCRED=1.
func init() {
	osFixtures = append(osFixtures, fixture{"wincred", func(t *testing.T) (Store, *childSpec) {
		need(t, os.Getenv("AZKEEP_TEST_WINCRED") == "1", "the Windows Credential Manager (AZKEEP_TEST_WINCRED=1)")
		return openSpec(t, childSpec{Backend: Wincred, Home: t.TempDir(), Service: "azkeep-test-" + randHex(6)})
	}})
}
