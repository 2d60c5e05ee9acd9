package lifecycle

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/workspace"
)

// BenchmarkLazyRotateNothingDue10k is what every azkeep command pays first
// with 10,000 sessions (100 integrations) and none inside the window: one
// read of the state file.
func BenchmarkLazyRotateNothingDue10k(b *testing.B) {
	ws, err := workspace.Open(filepath.Join(b.TempDir(), "home"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	err = ws.Update(context.Background(), func(st *workspace.State) error {
		for i := range 100 {
			id := fmt.Sprintf("int%03d", i)
			st.Integrations = append(st.Integrations, workspace.Integration{ID: id, Alias: id, Status: workspace.Online})
			subs := make([]workspace.Subscription, 100)
			for j := range subs {
				subs[j] = workspace.Subscription{ID: fmt.Sprintf("%08d-0000-0000-0000-%012d", i, j), Name: fmt.Sprintf("sub %d/%d", i, j)}
			}
			st.SyncSessions(id, subs)
		}
		s := &st.Sessions[0]
		s.Status, s.ConfigDir, s.ExpiresAt = workspace.Active, b.TempDir(), now.Add(time.Hour)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	m := &Manager{WS: ws, Now: func() time.Time { return now }}
	b.ResetTimer()
	for b.Loop() {
		done, err := m.LazyRotate(context.Background())
		if err != nil || len(done) != 0 {
			b.Fatal(done, err)
		}
	}
}
