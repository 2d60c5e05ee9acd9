package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixture opens a fresh, empty store of one backend for one test. spec,
// when the backend can be shared between processes, lets a child process
// open the same store.
type fixture struct {
	name string
	open func(t *testing.T) (Store, *childSpec)
}

const testPass = "correct horse battery staple"

// fixtures is the table the conformance suite runs over. The keychain and
// wincred entries come from build-tagged files (conformance_darwin_test.go,
// conformance_windows_test.go).
func fixtures() []fixture {
	fs := []fixture{
		{"memory", func(t *testing.T) (Store, *childSpec) { return NewMemory(), nil }},
		{"file", func(t *testing.T) (Store, *childSpec) {
			return openSpec(t, childSpec{Backend: File, Home: t.TempDir(), Pass: testPass})
		}},
		{"secret-service", func(t *testing.T) (Store, *childSpec) {
			need(t, haveSecretService(t), "a real Secret Service (gnome-keyring in a private D-Bus session)")
			return openSpec(t, childSpec{Backend: SecretService, Home: t.TempDir(), Service: "azkeep-test-" + randHex(6)})
		}},
		// The same real Secret Service with wincred's per-item limit: every
		// secret above 2,560 bytes takes the sealed-file path the Keychain and
		// wincred take, against a real daemon.
		{"secret-service-sealed", func(t *testing.T) (Store, *childSpec) {
			need(t, haveSecretService(t), "a real Secret Service (gnome-keyring in a private D-Bus session)")
			return openSpec(t, childSpec{Backend: SecretService, Home: t.TempDir(), Service: "azkeep-test-" + randHex(6), Limit: wincredLimit})
		}},
		{"pass", func(t *testing.T) (Store, *childSpec) {
			env, _ := newPassEnv(t, "")
			return openSpec(t, childSpec{Backend: Pass, Home: t.TempDir(), Service: "azkeep", Env: env})
		}},
	}
	return append(fs, osFixtures...)
}

// osFixtures are added by build-tagged test files.
var osFixtures []fixture

func openSpec(t *testing.T, spec childSpec) (Store, *childSpec) {
	t.Helper()
	s, err := spec.open()
	if err != nil {
		t.Fatalf("open %s: %v", spec.Backend, err)
	}
	t.Cleanup(func() {
		// Leave nothing behind in a shared OS vault.
		ctx := context.Background()
		items, _ := s.List(ctx)
		for _, it := range items {
			s.Delete(ctx, it.Key)
		}
	})
	return s, &spec
}

func forEachBackend(t *testing.T, fn func(t *testing.T, s Store, spec *childSpec)) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			s, spec := f.open(t)
			fn(t, s, spec)
		})
	}
}

func mustSet(t *testing.T, s Store, key string, v []byte) {
	t.Helper()
	if err := s.Set(context.Background(), key, v); err != nil {
		t.Fatalf("Set(%q, %d bytes): %v", key, len(v), err)
	}
}

func mustGet(t *testing.T, s Store, key string) []byte {
	t.Helper()
	v, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func TestConformanceSizes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s Store, _ *childSpec) {
		for _, n := range []int{1, 2 << 10, 8 << 10, 64 << 10} {
			key := fmt.Sprintf("int-%d/refresh-token", n)
			want := randBytes(n)
			mustSet(t, s, key, want)
			if got := mustGet(t, s, key); !bytes.Equal(got, want) {
				t.Errorf("%d bytes: round trip differs (got %d bytes)", n, len(got))
			}
		}
		items, err := s.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		sizes := map[string]int{}
		for _, it := range items {
			sizes[it.Key] = it.Size
		}
		for _, n := range []int{1, 2 << 10, 8 << 10, 64 << 10} {
			if got := sizes[fmt.Sprintf("int-%d/refresh-token", n)]; got != n {
				t.Errorf("List size for %d-byte item = %d", n, got)
			}
		}
	})
}

func TestConformanceOverwrite(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s Store, spec *childSpec) {
		key := "contoso/profile"
		// small -> large -> small -> large: crosses the inline/sealed line
		// both ways on the size-limited keyrings.
		for i, n := range []int{10, 64 << 10, 100, 9000} {
			want := randBytes(n)
			mustSet(t, s, key, want)
			if got := mustGet(t, s, key); !bytes.Equal(got, want) {
				t.Fatalf("write %d (%d bytes): read back %d bytes that differ", i, n, len(got))
			}
		}
		if spec != nil {
			// Only the current value's sealed file, if any, remains.
			files, _ := filepath.Glob(filepath.Join(storeDir(spec), "sealed", "*"))
			if len(files) > 1 {
				t.Errorf("sealed files left behind by overwrites: %v", files)
			}
		}
		if items, _ := s.List(context.Background()); len(items) != 1 || items[0].Size != 9000 {
			t.Errorf("List after overwrites = %+v, want one item of 9000 bytes", items)
		}
	})
}

func storeDir(spec *childSpec) string {
	name := spec.Backend
	if name == "fake-keyring" {
		return filepath.Join(spec.Home, "vault", name)
	}
	if spec.Service != "" && spec.Service != defaultService {
		name += "-" + spec.Service
	}
	return filepath.Join(spec.Home, "vault", name)
}

func TestConformanceDelete(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s Store, spec *childSpec) {
		ctx := context.Background()
		mustSet(t, s, "contoso/refresh-token", []byte("rt"))
		mustSet(t, s, "contoso/profile", randBytes(20000))
		for _, k := range []string{"contoso/refresh-token", "contoso/profile"} {
			if err := s.Delete(ctx, k); err != nil {
				t.Fatalf("Delete(%q): %v", k, err)
			}
			if _, err := s.Get(ctx, k); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get after Delete(%q) = %v, want ErrNotFound", k, err)
			}
		}
		if err := s.Delete(ctx, "contoso/never-stored"); err != nil {
			t.Errorf("Delete of a missing item = %v, want nil", err)
		}
		if err := s.Delete(ctx, "nobody/never-stored"); err != nil {
			t.Errorf("Delete of a missing integration = %v, want nil", err)
		}
		if _, err := s.Get(ctx, "nobody/never-stored"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get of a missing item = %v, want ErrNotFound", err)
		}
		if spec != nil {
			if files, _ := filepath.Glob(filepath.Join(storeDir(spec), "sealed", "*")); len(files) != 0 {
				t.Errorf("sealed files left after delete: %v", files)
			}
		}
	})
}

func TestConformanceList(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s Store, _ *childSpec) {
		ctx := context.Background()
		if items, err := s.List(ctx); err != nil || len(items) != 0 {
			t.Fatalf("List of an empty store = %v, %v", items, err)
		}
		want := map[string]int{"a/refresh-token": 1, "a/account": 300, "b/profile": 5000}
		for k, n := range want {
			mustSet(t, s, k, randBytes(n))
		}
		mustSet(t, s, "c/x", []byte("gone"))
		if err := s.Delete(ctx, "c/x"); err != nil {
			t.Fatal(err)
		}
		items, err := s.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		var keys []string
		for _, it := range items {
			got[it.Key] = it.Size
			keys = append(keys, it.Key)
		}
		if !sort.StringsAreSorted(keys) {
			t.Errorf("List not sorted: %v", keys)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("List = %v, want %v", got, want)
		}
	})
}

func TestConformanceUnicodeNames(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s Store, _ *childSpec) {
		keys := []string{"集成-東京/refresh-token", "Zürich Prod/profil ñ é", "🔑/account", "ça/va/bien"}
		for i, k := range keys {
			want := []byte(fmt.Sprintf("value %d for %s", i, k))
			if i == 1 {
				want = randBytes(64 << 10)
			}
			mustSet(t, s, k, want)
			if got := mustGet(t, s, k); !bytes.Equal(got, want) {
				t.Errorf("%q: round trip differs", k)
			}
		}
		items, err := s.List(context.Background())
		if err != nil || len(items) != len(keys) {
			t.Fatalf("List = %v, %v", items, err)
		}
		for _, it := range items {
			found := false
			for _, k := range keys {
				found = found || it.Key == k
			}
			if !found {
				t.Errorf("List names %q, which was not stored", it.Key)
			}
		}
	})
}

func TestConformanceInvalidKeys(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s Store, _ *childSpec) {
		if _, ok := s.(*Memory); ok {
			t.Skip("Memory is the unchecked fake")
		}
		for _, k := range []string{"", "a//b", "../x", "a/./b", "/abs", "-rf", "a\nb", strings.Repeat("x", 201)} {
			if err := s.Set(context.Background(), k, []byte("v")); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Set(%q) = %v, want ErrInvalidKey", k, err)
			}
		}
	})
}

// 10 goroutines each write their own item and one shared item and read both
// back; every read sees a whole value some goroutine wrote.
func TestConformanceConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s Store, _ *childSpec) {
		ctx := context.Background()
		const workers, rounds = 10, 4
		var wg sync.WaitGroup
		errs := make(chan error, workers*rounds*4)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for r := 0; r < rounds; r++ {
					own := valueFor(w, r, 100+w*700) // some above the 2,560-byte line
					if err := s.Set(ctx, fmt.Sprintf("g%d/rt", w), own); err != nil {
						errs <- err
						return
					}
					if err := s.Set(ctx, "shared/rt", valueFor(w, r, 3000)); err != nil {
						errs <- err
						return
					}
					got, err := s.Get(ctx, fmt.Sprintf("g%d/rt", w))
					if err != nil || !bytes.Equal(got, own) {
						errs <- fmt.Errorf("worker %d round %d: own item: %v", w, r, err)
						return
					}
					got, err = s.Get(ctx, "shared/rt")
					if err != nil || !validValue(got) {
						errs <- fmt.Errorf("worker %d round %d: shared item torn or missing: %v", w, r, err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		items, _ := s.List(ctx)
		if len(items) != workers+1 {
			t.Errorf("List has %d items, want %d", len(items), workers+1)
		}
	})
}

// valueFor builds a self-checking value: a header naming writer and round,
// then filler derived from it, so a torn or mixed value is detected.
func valueFor(w, r, n int) []byte {
	head := fmt.Sprintf("w=%d r=%d n=%d|", w, r, n)
	b := []byte(head)
	for len(b) < n {
		b = append(b, byte('a'+(w*7+r*3+len(b))%26))
	}
	return b[:max(n, len(head))]
}

func validValue(v []byte) bool {
	var w, r, n int
	i := bytes.IndexByte(v, '|')
	if i < 0 {
		return false
	}
	if _, err := fmt.Sscanf(string(v[:i]), "w=%d r=%d n=%d", &w, &r, &n); err != nil {
		return false
	}
	return bytes.Equal(v, valueFor(w, r, n))
}

// 5 processes (this test binary re-executed) write and read concurrently
// through the same backend and Home.
func TestConformanceConcurrentProcesses(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s Store, spec *childSpec) {
		if spec == nil {
			t.Skip("in-process store")
		}
		const procs = 5
		var cmds []*childCmd
		for i := 0; i < procs; i++ {
			c := *spec
			c.Mode, c.ID = "conc", i
			cmds = append(cmds, startChildCmd(t, c))
		}
		for i, c := range cmds {
			if err := c.wait(); err != nil {
				t.Errorf("process %d: %v\n%s", i, err, c.out.String())
			}
		}
		ctx := context.Background()
		for i := 0; i < procs; i++ {
			got := mustGet(t, s, fmt.Sprintf("p%d/rt", i))
			if !bytes.Equal(got, valueFor(i, concRounds-1, 200+i*900)) {
				t.Errorf("process %d's last write was not kept", i)
			}
		}
		if got := mustGet(t, s, "shared/rt"); !validValue(got) {
			t.Errorf("shared item torn")
		}
		if items, _ := s.List(ctx); len(items) != procs+1 {
			t.Errorf("List has %d items, want %d", len(items), procs+1)
		}
	})
}

const concRounds = 4

func childConc(spec childSpec) error {
	s, err := spec.open()
	if err != nil {
		return err
	}
	ctx := context.Background()
	w := spec.ID
	for r := 0; r < concRounds; r++ {
		own := valueFor(w, r, 200+w*900)
		if err := s.Set(ctx, fmt.Sprintf("p%d/rt", w), own); err != nil {
			return err
		}
		if err := s.Set(ctx, "shared/rt", valueFor(w, r, 2600+w)); err != nil {
			return err
		}
		got, err := s.Get(ctx, fmt.Sprintf("p%d/rt", w))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, own) {
			return fmt.Errorf("round %d: own item changed under us", r)
		}
		got, err = s.Get(ctx, "shared/rt")
		if err != nil {
			return err
		}
		if !validValue(got) {
			return fmt.Errorf("round %d: shared item torn", r)
		}
	}
	return nil
}

// childMain runs in a re-executed test binary.
func childMain(spec childSpec) int {
	var err error
	switch spec.Mode {
	case "conc":
		err = childConc(spec)
	case "probe":
		return childProbe(spec)
	case "migrate":
		err = childMigrate(spec)
	default:
		err = fmt.Errorf("unknown child mode %q", spec.Mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

type childCmd struct {
	out  bytes.Buffer
	done chan error
}

func startChildCmd(t *testing.T, spec childSpec) *childCmd {
	t.Helper()
	c := &childCmd{done: make(chan error, 1)}
	go func() {
		out, err := runChild(t, spec)
		c.out.WriteString(out)
		c.done <- err
	}()
	return c
}

func (c *childCmd) wait() error {
	select {
	case err := <-c.done:
		return err
	case <-time.After(3 * time.Minute):
		return errors.New("child did not finish")
	}
}
