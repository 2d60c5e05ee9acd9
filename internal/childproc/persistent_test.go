package childproc

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

func TestRefreshPersistent(t *testing.T) {
	home := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	window := 20 * time.Minute
	mk := func(id string, exp time.Time) string {
		dir := PersistentDir(home, id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := WriteMarker(dir, Marker{SessionID: id, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	mk("due", now.Add(10*time.Minute))
	mk("fresh", now.Add(50*time.Minute))
	mk("failing", now.Add(time.Minute))
	os.MkdirAll(PersistentDir(home, "no-marker"), 0o700)

	var called []string
	next, err := RefreshPersistent(context.Background(), home, window, now, func(ctx context.Context, q, dir string) (time.Time, error) {
		called = append(called, q)
		if q == "failing" {
			return time.Time{}, errors.New("boom")
		}
		return now.Add(70 * time.Minute), nil
	})
	if err == nil {
		t.Fatal("failure not reported")
	}
	if len(called) != 2 {
		t.Fatalf("materialised %v, want due and failing", called)
	}
	if !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("next %v", next)
	}
	list, _ := ListPersistent(home)
	for _, p := range list {
		if p.SessionID == "due" && !p.ExpiresAt.Equal(now.Add(70*time.Minute)) {
			t.Fatalf("marker not updated: %v", p.ExpiresAt)
		}
	}
	if len(list) != 3 {
		t.Fatalf("list %v", list)
	}
}
