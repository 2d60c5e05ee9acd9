package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	// waits receives the duration of every After call.
	waits chan time.Duration
	fire  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), waits: make(chan time.Duration, 16), fire: make(chan time.Time)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) After(d time.Duration) (<-chan time.Time, func()) {
	c.waits <- d
	return c.fire, func() {}
}

// fakeSource is a Source whose answers the test sets.
type fakeSource struct {
	mu      sync.Mutex
	items   []Item
	rotated []string
	// rotate decides each Rotate's answer.
	rotate func(ctx context.Context, id string) (time.Time, error)
}

func (f *fakeSource) Plan(context.Context) ([]Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Item(nil), f.items...), nil
}

func (f *fakeSource) Rotate(ctx context.Context, id string) (time.Time, error) {
	f.mu.Lock()
	f.rotated = append(f.rotated, id)
	fn := f.rotate
	f.mu.Unlock()
	next, err := fn(ctx, id)
	if err == nil {
		f.mu.Lock()
		for i := range f.items {
			if f.items[i].ID == id {
				f.items[i].Due = next
			}
		}
		f.mu.Unlock()
	}
	return next, err
}

func (f *fakeSource) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rotated)
}

func half() float64 { return 0.5 }
func zero() float64 { return 0 }

func TestSleepsUntilDuePlusJitterWithoutRotating(t *testing.T) {
	clk := newFakeClock()
	t0 := clk.Now()
	src := &fakeSource{items: []Item{{ID: "s1", Label: "one", Due: t0.Add(40 * time.Minute)}}}
	s := New(src, Options{Window: 20 * time.Minute, Clock: clk, Rand: half, Rescan: time.Hour})
	wake := s.Pass(context.Background())
	// jitter = min(30s, (20m-5m)/4) = 30s; half of it after the due time.
	if want := t0.Add(40*time.Minute + 15*time.Second); !wake.Equal(want) {
		t.Errorf("wake %v, want %v", wake, want)
	}
	if src.count() != 0 {
		t.Error("rotated before the due time")
	}
}

func TestJitterStaysInsideAzMargin(t *testing.T) {
	// A 5½-minute window leaves 30 s over az's 5 minutes: jitter is a
	// quarter of it.
	s := New(&fakeSource{}, Options{Window: 330 * time.Second})
	if s.opts.Jitter != 7500*time.Millisecond || s.opts.MaxBackoff != 10*time.Second {
		t.Errorf("jitter %v, max back-off %v", s.opts.Jitter, s.opts.MaxBackoff)
	}
}

func TestRotatesWhenDueAndReschedules(t *testing.T) {
	clk := newFakeClock()
	t0 := clk.Now()
	src := &fakeSource{items: []Item{
		{ID: "due", Label: "due", Due: t0.Add(-time.Second)},
		{ID: "later", Label: "later", Due: t0.Add(time.Hour)},
	}}
	src.rotate = func(context.Context, string) (time.Time, error) { return t0.Add(40 * time.Minute), nil }
	var log bytes.Buffer
	var plan Status
	s := New(src, Options{Clock: clk, Rand: zero, Log: &log, OnPlan: func(st Status) { plan = st }})
	wake := s.Pass(context.Background())
	if src.count() != 1 || src.rotated[0] != "due" {
		t.Fatalf("rotated %v", src.rotated)
	}
	if want := t0.Add(time.Minute); !wake.Equal(want) { // Rescan (1m) is sooner than 40m
		t.Errorf("wake %v, want %v", wake, want)
	}
	if len(plan.Next) != 2 || plan.Next[0].ID != "due" || !plan.Next[0].At.Equal(t0.Add(40*time.Minute)) {
		t.Errorf("plan %+v", plan)
	}
	if !strings.Contains(log.String(), "rotated due; next rotation at") {
		t.Errorf("log %q", log.String())
	}
}

func TestBacksOffExponentiallyOnNetworkErrors(t *testing.T) {
	clk := newFakeClock()
	t0 := clk.Now()
	src := &fakeSource{items: []Item{{ID: "s", Label: "s", Due: t0}}}
	src.rotate = func(context.Context, string) (time.Time, error) {
		return time.Time{}, errors.New("dial tcp: connection refused")
	}
	s := New(src, Options{Clock: clk, Rand: zero, Window: 20 * time.Minute, Rescan: time.Hour})
	var delays []time.Duration
	for i := 0; i < 12; i++ {
		wake := s.Pass(context.Background())
		delays = append(delays, wake.Sub(clk.Now()))
		clk.set(wake)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for i, d := range delays {
		if d != want[i]*time.Second {
			t.Fatalf("delays %v, want %v seconds", delays, want)
		}
	}
	if src.count() != 12 {
		t.Errorf("%d attempts", src.count())
	}
	// Success resets the back-off.
	src.rotate = func(context.Context, string) (time.Time, error) { return clk.Now().Add(40 * time.Minute), nil }
	s.Pass(context.Background())
	if _, ok := s.retryOf("s"); ok {
		t.Error("back-off kept after a success")
	}
}

func TestNeedsLoginIsLoggedOnceAndNotRetried(t *testing.T) {
	clk := newFakeClock()
	t0 := clk.Now()
	src := &fakeSource{items: []Item{{ID: "s", Label: "s", Integration: "i1", IntegrationAlias: "contoso", Due: t0}}}
	src.rotate = func(context.Context, string) (time.Time, error) {
		src.mu.Lock()
		src.items[0].NeedsLogin = true // the lifecycle marks the integration
		src.mu.Unlock()
		return time.Time{}, &azure.NeedsLoginError{Code: "invalid_grant"}
	}
	var log bytes.Buffer
	s := New(src, Options{Clock: clk, Log: &log, Rand: zero})
	for i := 0; i < 5; i++ {
		s.Pass(context.Background())
		clk.set(clk.Now().Add(time.Minute))
	}
	if src.count() != 1 {
		t.Errorf("%d rotations of a needs-login integration, want 1", src.count())
	}
	if n := strings.Count(log.String(), "needs a new login"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "azkeep integration login contoso") {
		t.Errorf("no fix in the log: %s", log.String())
	}
	// After a new login the integration is rotated again, and a second
	// rejection is reported again.
	src.mu.Lock()
	src.items[0].NeedsLogin = false
	src.mu.Unlock()
	s.Pass(context.Background())
	if src.count() != 2 || strings.Count(log.String(), "needs a new login") != 2 {
		t.Errorf("after re-login: %d rotations, log:\n%s", src.count(), log.String())
	}
}

func TestShutdownFinishesTheRotationInProgress(t *testing.T) {
	clk := newFakeClock()
	src := &fakeSource{items: []Item{{ID: "s", Label: "s", Due: clk.Now()}}}
	started := make(chan struct{})
	release := make(chan struct{})
	var rotateErr error
	src.rotate = func(ctx context.Context, _ string) (time.Time, error) {
		close(started)
		<-release
		rotateErr = ctx.Err() // must not be cancelled by the shutdown
		return clk.Now().Add(time.Hour), nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := New(src, Options{Clock: clk})
	go func() { done <- s.Run(ctx) }()
	<-started
	cancel() // SIGTERM arrives mid-rotation
	select {
	case <-done:
		t.Fatal("Run returned while a rotation was in progress")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rotateErr != nil {
		t.Errorf("the rotation's context was cancelled: %v", rotateErr)
	}
}

func TestRunSleepsOnOneTimerAndWakesOnChange(t *testing.T) {
	clk := newFakeClock()
	t0 := clk.Now()
	src := &fakeSource{items: []Item{{ID: "s", Label: "s", Due: t0.Add(10 * time.Minute)}}}
	changes := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := New(src, Options{Clock: clk, Rand: zero, Rescan: time.Hour, Changes: changes})
	go s.Run(ctx)
	if d := <-clk.waits; d != 10*time.Minute {
		t.Fatalf("first sleep %v, want 10m", d)
	}
	// A session started by the CLI: the watcher wakes the agent, which
	// re-reads the plan.
	src.mu.Lock()
	src.items = append(src.items, Item{ID: "new", Label: "new", Due: t0.Add(2 * time.Minute)})
	src.mu.Unlock()
	changes <- struct{}{}
	if d := <-clk.waits; d != 2*time.Minute {
		t.Fatalf("sleep after change %v, want 2m", d)
	}
	src.rotate = func(context.Context, string) (time.Time, error) { return t0.Add(time.Hour), nil }
	clk.set(t0.Add(2 * time.Minute))
	clk.fire <- clk.Now()
	if d := <-clk.waits; d != 8*time.Minute {
		t.Fatalf("sleep after rotation %v, want 8m", d)
	}
	if src.count() != 1 || src.rotated[0] != "new" {
		t.Errorf("rotated %v", src.rotated)
	}
}

func TestOneAgentPerHome(t *testing.T) {
	home := t.TempDir()
	if Running(home) {
		t.Fatal("running before any agent")
	}
	unlock, err := Lock(home)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(home); !errors.Is(err, ErrRunning) {
		t.Errorf("second lock: %v", err)
	}
	if !Running(home) {
		t.Error("not running while locked")
	}
	unlock()
	if Running(home) {
		t.Error("running after unlock")
	}
}

func TestStatusRoundTrip(t *testing.T) {
	home := t.TempDir()
	if rec, err := ReadStatus(home); rec != nil || err != nil {
		t.Fatalf("%v %v", rec, err)
	}
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	in := StatusRecord{PID: 42, Started: at, Window: "20m0s", Status: Status{Updated: at, Wake: at, Next: []Scheduled{{ID: "s", Label: "l", At: at, State: "scheduled"}}}}
	if err := WriteStatus(home, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadStatus(home)
	if err != nil || out.PID != 42 || len(out.Next) != 1 || !out.Next[0].At.Equal(at) {
		t.Fatalf("%+v %v", out, err)
	}
	fi, _ := os.Stat(filepath.Join(home, StatusFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
}
