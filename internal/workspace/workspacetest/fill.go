// Package workspacetest builds azkeep states for tests and benchmarks.
package workspacetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/workspace"
)

// Fill writes into home a state of n sessions, 100 per integration; the
// first active of them are active in config dirs of their own (under
// home/dirs), with tokens far from expiry.
func Fill(tb testing.TB, home string, n, active int) {
	tb.Helper()
	ws, err := workspace.Open(home)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC()
	err = ws.Update(context.Background(), func(st *workspace.State) error {
		for i := 0; i*100 < n; i++ {
			in := workspace.Integration{ID: workspace.NewID(), Alias: fmt.Sprintf("tenant-%03d", i), Tenant: fmt.Sprintf("t%03d.example", i),
				TenantID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Cloud: azure.AzureCloud, Status: workspace.Online, CreatedAt: now}
			st.Integrations = append(st.Integrations, in)
			for j := 0; j < 100 && i*100+j < n; j++ {
				k := i*100 + j
				sub := fmt.Sprintf("%08d-0000-4000-8000-%012d", k, i)
				s := workspace.Session{ID: workspace.SessionID(in.ID, sub), SubscriptionID: sub, SubscriptionName: fmt.Sprintf("Subscription %d", k),
					TenantID: in.TenantID, IntegrationID: in.ID, Status: workspace.Inactive}
				if k < active {
					dir := filepath.Join(home, "dirs", fmt.Sprint(k))
					if err := os.MkdirAll(dir, 0o700); err != nil {
						return err
					}
					s.Status, s.ConfigDir, s.StartedAt, s.ExpiresAt = workspace.Active, dir, now, now.Add(10*time.Hour)
				}
				st.Sessions = append(st.Sessions, s)
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}
