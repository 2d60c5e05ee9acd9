package cli

import (
	"context"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// The clock check reads the token endpoint's Date header (the emulator's
// net/http server sends one) through the proxy.
func TestDoctorClockSkew(t *testing.T) {
	emu := testbed.Emulator(t, entraemu.Config{Tenants: 1, SubscriptionsPerTenant: 1})
	host := azure.AzureCloud.AuthorityHost
	for _, c := range []struct {
		off     time.Duration
		verdict string
	}{{0, verdictOK}, {-2 * time.Minute, verdictWarn}, {10 * time.Minute, verdictFail}} {
		now := func() time.Time { return time.Now().Add(c.off) }
		got := clockCheck(context.Background(), emu.Client(), now, host)
		if got.Verdict != c.verdict {
			t.Errorf("clock %s off: %+v, want %s", c.off, got, c.verdict)
		}
		if c.verdict != verdictOK && got.Fix == "" {
			t.Errorf("clock %s off: no fix: %+v", c.off, got)
		}
	}
	// Unreachable: a warning, not a failure (the network is another check's).
	if got := clockCheck(context.Background(), emu.Client(), time.Now, "https://127.0.0.1:1"); got.Verdict != verdictWarn {
		t.Errorf("unreachable: %+v", got)
	}
}
