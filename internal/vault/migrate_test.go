package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// killer is a Store that SIGKILLs its own process at the n-th Set (or
// Delete): a migration interrupted in the middle, with no chance to clean up.
type killer struct {
	Store
	op string
	n  int32
	c  atomic.Int32
}

func (k *killer) hit(op string) {
	if op == k.op && k.c.Add(1) == k.n {
		killSelf()
	}
}

func (k *killer) Set(ctx context.Context, key string, v []byte) error {
	k.hit("set")
	return k.Store.Set(ctx, key, v)
}

func (k *killer) Delete(ctx context.Context, key string) error {
	k.hit("delete")
	return k.Store.Delete(ctx, key)
}

// childMigrate runs Migrate from spec to spec.To; KillAt > 0 kills the
// process at that target Set, KillAt < 0 at that source Delete.
func childMigrate(spec childSpec) error {
	from, err := spec.open()
	if err != nil {
		return err
	}
	to, err := spec.To.open()
	if err != nil {
		return err
	}
	switch {
	case spec.KillAt > 0:
		to = &killer{Store: to, op: "set", n: int32(spec.KillAt)}
	case spec.KillAt < 0:
		from = &killer{Store: from, op: "delete", n: int32(-spec.KillAt)}
	}
	_, err = Migrate(context.Background(), from, to, MigrateOptions{})
	return err
}

func migrationData() map[string][]byte {
	want := map[string][]byte{}
	for i := 0; i < 4; i++ {
		id := fmt.Sprintf("int-%d", i)
		want[id+"/refresh-token"] = randBytes(1500)
		want[id+"/account"] = []byte(fmt.Sprintf(`{"home_account_id":"u%d.t"}`, i))
		want[id+"/profile"] = randBytes(40000)
	}
	return want
}

type migrationPair struct {
	name     string
	from, to func(t *testing.T) (Store, *childSpec)
}

func migrationPairs() []migrationPair {
	byName := map[string]func(t *testing.T) (Store, *childSpec){}
	for _, f := range fixtures() {
		byName[f.name] = f.open
	}
	return []migrationPair{
		{"file-to-secret-service", byName["file"], byName["secret-service"]},
		{"secret-service-to-file", byName["secret-service"], byName["file"]},
		{"file-to-pass", byName["file"], byName["pass"]},
		{"secret-service-sealed-to-pass", byName["secret-service-sealed"], byName["pass"]},
	}
}

// checkAll asserts every item is in exactly the stores it should be, with
// its value: nothing lost, nothing torn.
func checkNoLoss(t *testing.T, from, to Store, want map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	for k, v := range want {
		a, errA := from.Get(ctx, k)
		b, errB := to.Get(ctx, k)
		okA := errA == nil && bytes.Equal(a, v)
		okB := errB == nil && bytes.Equal(b, v)
		if !okA && !okB {
			t.Errorf("%s lost: source %v, target %v", k, errA, errB)
		}
		if errA != nil && !errors.Is(errA, ErrNotFound) || errB != nil && !errors.Is(errB, ErrNotFound) {
			t.Errorf("%s: unexpected errors %v / %v", k, errA, errB)
		}
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	for _, p := range migrationPairs() {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			from, fromSpec := p.from(t)
			to, toSpec := p.to(t)
			want := migrationData()
			for k, v := range want {
				mustSet(t, from, k, v)
			}
			ctx := context.Background()

			// Killed while copying: the source still holds everything.
			spec := *fromSpec
			spec.Mode, spec.To, spec.KillAt = "migrate", toSpec, 5
			if out, err := runChild(t, spec); err == nil || strings.Contains(out, "child:") {
				t.Fatalf("child was not killed at the 5th copy: %v\n%s", err, out)
			}
			if items, _ := from.List(ctx); len(items) != len(want) {
				t.Errorf("source lists %d items after a kill during copy, want %d", len(items), len(want))
			}
			checkNoLoss(t, from, to, want)

			// Killed while deleting the source: everything is in the target.
			spec.KillAt = -3
			if out, err := runChild(t, spec); err == nil || strings.Contains(out, "child:") {
				t.Fatalf("child was not killed at the 3rd delete: %v\n%s", err, out)
			}
			checkNoLoss(t, from, to, want)
			for k, v := range want {
				if got := mustGet(t, to, k); !bytes.Equal(got, v) {
					t.Errorf("%s not in the target after the copy pass", k)
				}
			}

			// Run again: finishes.
			rep, err := Migrate(ctx, from, to, MigrateOptions{})
			if err != nil {
				t.Fatalf("re-run: %v", err)
			}
			if rep.Deleted != len(want)-2 {
				t.Errorf("re-run deleted %d, want %d (2 were deleted before the kill)", rep.Deleted, len(want)-2)
			}
			if items, _ := from.List(ctx); len(items) != 0 {
				t.Errorf("source still lists %v", items)
			}
			items, _ := to.List(ctx)
			if len(items) != len(want) {
				t.Errorf("target lists %d items, want %d", len(items), len(want))
			}
			for k, v := range want {
				if got := mustGet(t, to, k); !bytes.Equal(got, v) {
					t.Errorf("%s differs in the target", k)
				}
			}
			// Nothing left to do.
			if rep, err := Migrate(ctx, from, to, MigrateOptions{}); err != nil || rep.Copied != 0 {
				t.Errorf("third run: %+v, %v", rep, err)
			}
		})
	}
}

// A value that changes in the source between copy and delete (a rotation)
// is copied again, not lost.
func TestMigrateSourceChangedMeanwhile(t *testing.T) {
	from, to := NewMemory(), &renamed{NewMemory(), "other"}
	ctx := context.Background()
	from.Set(ctx, "a/refresh-token", []byte("old"))
	rot := &rotateOnFirstSet{Store: to, from: from}
	if _, err := Migrate(ctx, from, rot, MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := to.Get(ctx, "a/refresh-token"); string(got) != "rotated" {
		t.Errorf("target holds %q, want the rotated value", got)
	}
	if _, err := from.Get(ctx, "a/refresh-token"); !errors.Is(err, ErrNotFound) {
		t.Errorf("source still holds it: %v", err)
	}
}

type renamed struct {
	*Memory
	name string
}

func (r *renamed) Name() string { return r.name }

type rotateOnFirstSet struct {
	Store
	from Store
	done bool
}

func (r *rotateOnFirstSet) Set(ctx context.Context, k string, v []byte) error {
	err := r.Store.Set(ctx, k, v)
	if !r.done {
		r.done = true
		r.from.Set(ctx, k, []byte("rotated"))
	}
	return err
}

func TestMigrateSameBackend(t *testing.T) {
	if _, err := Migrate(context.Background(), NewMemory(), NewMemory(), MigrateOptions{}); err == nil {
		t.Error("migrating a backend onto itself succeeded")
	}
}

// AfterCopy runs when the target holds everything and the source still does.
func TestMigrateAfterCopy(t *testing.T) {
	from, to := NewMemory(), &renamed{NewMemory(), "other"}
	ctx := context.Background()
	for _, k := range []string{"a/refresh-token", "a/account", "b/profile"} {
		from.Set(ctx, k, []byte("v-"+k))
	}
	calls := 0
	_, err := Migrate(ctx, from, to, MigrateOptions{AfterCopy: func() error {
		calls++
		src, _ := from.List(ctx)
		dst, _ := to.List(ctx)
		if len(src) != 3 || len(dst) != 3 {
			t.Errorf("at AfterCopy: source %d items, target %d, want 3 and 3", len(src), len(dst))
		}
		return nil
	}})
	if err != nil || calls != 1 {
		t.Fatalf("err %v, AfterCopy called %d times", err, calls)
	}
	// An AfterCopy error stops before any delete.
	from2 := NewMemory()
	from2.Set(ctx, "a/refresh-token", []byte("v"))
	stop := errors.New("stop")
	if _, err := Migrate(ctx, from2, &renamed{NewMemory(), "x"}, MigrateOptions{AfterCopy: func() error { return stop }}); !errors.Is(err, stop) {
		t.Errorf("err = %v", err)
	}
	if _, err := from2.Get(ctx, "a/refresh-token"); err != nil {
		t.Errorf("source lost its item after a failed AfterCopy: %v", err)
	}
}
