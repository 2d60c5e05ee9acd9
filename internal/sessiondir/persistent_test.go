package sessiondir

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// Refresh renews a dir only inside the window, records the new expiry, and
// keeps the old one when renewing fails; ListPersistent skips a dir
// without a marker.
func TestRefresh(t *testing.T) {
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
	due := mk("due", now.Add(10*time.Minute))
	fresh := mk("fresh", now.Add(50*time.Minute))
	failing := mk("failing", now.Add(time.Minute))
	os.MkdirAll(PersistentDir(home, "no-marker"), 0o700)

	var called []string
	materialize := func(ctx context.Context, q, dir string) (time.Time, error) {
		called = append(called, q)
		if q == "failing" {
			return time.Time{}, errors.New("boom")
		}
		return now.Add(70 * time.Minute), nil
	}
	for _, c := range []struct {
		dir     string
		want    time.Time
		wantErr bool
	}{
		{due, now.Add(70 * time.Minute), false},
		{fresh, now.Add(50 * time.Minute), false},
		{failing, now.Add(time.Minute), true},
	} {
		exp, err := Refresh(context.Background(), c.dir, window, now, materialize)
		if (err != nil) != c.wantErr || !exp.Equal(c.want) {
			t.Errorf("%s: %v, %v; want %v (error %v)", c.dir, exp, err, c.want, c.wantErr)
		}
	}
	if len(called) != 2 || called[0] != "due" || called[1] != "failing" {
		t.Fatalf("materialised %v, want due and failing", called)
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
