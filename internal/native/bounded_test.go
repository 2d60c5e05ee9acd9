package native

import (
	"net/http"
	"testing"
	"time"
)

// Regression: with http.DefaultClient (production's) a token endpoint that
// never answered held a native redemption, and the procedures' lock, for
// good.
func TestEveryRequestIsBounded(t *testing.T) {
	if c := bounded(http.DefaultClient); c.Timeout != requestTimeout || http.DefaultClient.Timeout != 0 {
		t.Fatalf("default client: timeout %s (shared client changed: %v)", c.Timeout, http.DefaultClient.Timeout != 0)
	}
	if c := bounded(nil); c.Timeout != requestTimeout {
		t.Fatalf("nil client: timeout %s", c.Timeout)
	}
	own := &http.Client{Timeout: time.Second}
	if bounded(own) != own {
		t.Fatal("a client's own bound was replaced")
	}
}
