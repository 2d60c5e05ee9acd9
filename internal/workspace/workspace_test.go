package workspace

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/hint"
)

func newWS(t testing.TB) *Workspace {
	t.Helper()
	w, err := Open(filepath.Join(t.TempDir(), "home"))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestRoundTripAndPermissions(t *testing.T) {
	w := newWS(t)
	ctx := context.Background()
	exp := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	err := w.Update(ctx, func(st *State) error {
		st.Integrations = append(st.Integrations, Integration{ID: "i1", Alias: "contoso", Tenant: "contoso.onmicrosoft.com", Cloud: azure.AzureCloud, Status: Online})
		st.SyncSessions("i1", []Subscription{{ID: "AAAA-1", Name: "Dev", TenantID: "t"}})
		st.Sessions[0].Status = Active
		st.Sessions[0].ExpiresAt = exp
		st.Sessions[0].ConfigDir = CleanDir("/x/.azure")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := w.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Sessions) != 1 || !st.Sessions[0].ExpiresAt.Equal(exp) || st.Sessions[0].SubscriptionID != "aaaa-1" {
		t.Fatalf("round trip: %+v", st.Sessions)
	}
	if st.ActiveIn("/x/.azure/") == nil {
		t.Fatal("ActiveIn does not clean the path")
	}
	fi, err := os.Stat(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(w.Dir())
	if di.Mode().Perm() != 0o700 {
		t.Errorf("home mode %v, want 0700", di.Mode().Perm())
	}
}

func TestCorruptAndNewerAreNeverOverwritten(t *testing.T) {
	for name, content := range map[string]string{
		"corrupt":   `{"schema": 1, "sessions": [`,
		"noschema":  `{"sessions": []}`,
		"newer":     `{"schema": 99, "sessions": []}`,
		"wrongtype": `{"schema": 1, "sessions": 3}`,
	} {
		t.Run(name, func(t *testing.T) {
			w := newWS(t)
			if err := os.WriteFile(w.Path(), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Load(); err == nil || hint.Of(err) == "" {
				t.Fatalf("Load: want an error with a hint, got %v", err)
			}
			called := false
			err := w.Update(context.Background(), func(*State) error { called = true; return nil })
			if err == nil || called {
				t.Fatalf("Update on a bad file: err %v, fn called %v", err, called)
			}
			got, _ := os.ReadFile(w.Path())
			if string(got) != content {
				t.Fatalf("file rewritten: %q", got)
			}
		})
	}
}

func TestUpdateErrorWritesNothing(t *testing.T) {
	w := newWS(t)
	boom := errors.New("boom")
	err := w.Update(context.Background(), func(st *State) error {
		st.Integrations = append(st.Integrations, Integration{ID: "x"})
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := os.Stat(w.Path()); !os.IsNotExist(err) {
		t.Fatal("state written despite the error")
	}
}

func TestConcurrentUpdatesDoNotLoseWrites(t *testing.T) {
	w := newWS(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A second Workspace value: the lock is the file, not the struct.
			w2, _ := Open(w.Dir())
			err := w2.Update(context.Background(), func(st *State) error {
				st.Integrations = append(st.Integrations, Integration{ID: fmt.Sprint(i)})
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	st, _ := w.Load()
	if len(st.Integrations) != 20 {
		t.Fatalf("lost writes: %d integrations", len(st.Integrations))
	}
}

func TestResolveSession(t *testing.T) {
	st := &State{Schema: 1, Integrations: []Integration{{ID: "i1", Alias: "a"}, {ID: "i2", Alias: "b"}}}
	st.SyncSessions("i1", []Subscription{{ID: "11111111-0000-0000-0000-000000000001", Name: "Dev"}, {ID: "11111111-0000-0000-0000-000000000002", Name: "Prod"}})
	st.SyncSessions("i2", []Subscription{{ID: "22222222-0000-0000-0000-000000000001", Name: "Dev"}, {ID: "11111111-0000-0000-0000-000000000002", Name: "Prod (shared)"}})

	s, err := st.Session("prod")
	if err != nil || s.SubscriptionName != "Prod" {
		t.Fatalf("case-insensitive name: %v %v", s, err)
	}
	s, err = st.Session("11111111-0000-0000-0000-000000000001")
	if err != nil || s.SubscriptionName != "Dev" {
		t.Fatalf("by subscription id: %v %v", s, err)
	}
	id := SessionID("i2", "22222222-0000-0000-0000-000000000001")
	s, err = st.Session(id)
	if err != nil || s.IntegrationID != "i2" {
		t.Fatalf("by session id: %v %v", s, err)
	}
	var amb *AmbiguousError
	if _, err := st.Session("Dev"); !errors.As(err, &amb) || len(amb.Candidates) != 2 || !strings.Contains(err.Error(), "integration a") {
		t.Fatalf("ambiguous name: %v", err)
	}
	if _, err := st.Session("11111111-0000-0000-0000-000000000002"); !errors.As(err, &amb) {
		t.Fatalf("ambiguous subscription id: %v", err)
	}
	if _, err := st.Session("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

func TestSyncSessions(t *testing.T) {
	st := &State{Schema: 1}
	st.SyncSessions("i1", []Subscription{{ID: "s1", Name: "One"}, {ID: "s2", Name: "Two"}, {ID: "s3", Name: "Three"}})
	st.SyncSessions("i2", []Subscription{{ID: "s1", Name: "Other"}})
	s1 := SessionID("i1", "s1")
	st.SessionByID(SessionID("i1", "s2")).Status = Active
	res := st.SyncSessions("i1", []Subscription{{ID: "s1", Name: "One renamed"}, {ID: "s3", Name: "Three"}, {ID: "s4", Name: "Four"}})
	if len(res.Renamed) != 1 || res.Renamed[0] != s1 {
		t.Errorf("renamed: %v", res.Renamed)
	}
	if len(res.Removed) != 1 || res.Removed[0].Status != Active {
		t.Errorf("removed: %+v", res.Removed)
	}
	if len(res.Added) != 1 || len(res.Kept) != 1 {
		t.Errorf("added %v kept %v", res.Added, res.Kept)
	}
	if got := st.SessionByID(s1); got == nil || got.SubscriptionName != "One renamed" {
		t.Errorf("renamed session lost its id: %+v", got)
	}
	if len(st.Sessions) != 4 {
		t.Errorf("want 4 sessions (3 of i1, 1 of i2), got %d", len(st.Sessions))
	}
	st.RemoveIntegration("i1")
	if len(st.Sessions) != 1 {
		t.Errorf("RemoveIntegration left %d sessions", len(st.Sessions))
	}
}

func TestIntegrationLookup(t *testing.T) {
	st := &State{Integrations: []Integration{{ID: "i1", Alias: "contoso"}, {ID: "i2", Alias: "Fabrikam"}}}
	if in, err := st.Integration("fabrikam"); err != nil || in.ID != "i2" {
		t.Fatal(in, err)
	}
	if in, err := st.Integration("i1"); err != nil || in.Alias != "contoso" {
		t.Fatal(in, err)
	}
	if _, err := st.Integration("x"); !errors.Is(err, ErrNotFound) || hint.Of(err) == "" {
		t.Fatal(err)
	}
}

// fill makes a state of n sessions over n/100 integrations.
func fill(b testing.TB, w *Workspace, n int) {
	err := w.Update(context.Background(), func(st *State) error {
		for i := 0; i < n/100; i++ {
			id := fmt.Sprintf("int%04d", i)
			st.Integrations = append(st.Integrations, Integration{ID: id, Alias: id, Cloud: azure.AzureCloud, Status: Online})
			subs := make([]Subscription, 100)
			for j := range subs {
				subs[j] = Subscription{ID: fmt.Sprintf("%08d-0000-0000-0000-%012d", i, j), Name: fmt.Sprintf("sub %d/%d", i, j), TenantID: "t"}
			}
			st.SyncSessions(id, subs)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func TestTenThousandSessions(t *testing.T) {
	w := newWS(t)
	fill(t, w, 10000)
	st, err := w.Load()
	if err != nil || len(st.Sessions) != 10000 {
		t.Fatalf("%v, %d sessions", err, len(st.Sessions))
	}
	if s, err := st.Session("sub 99/99"); err != nil || s.IntegrationID != "int0099" {
		t.Fatal(s, err)
	}
}

// BenchmarkLoad10k: the read every command (lazy rotation) pays.
func BenchmarkLoad10k(b *testing.B) {
	w := newWS(b)
	fill(b, w, 10000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.Load(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate10k: lock, read, change one session, write atomically.
func BenchmarkUpdate10k(b *testing.B) {
	w := newWS(b)
	fill(b, w, 10000)
	b.ResetTimer()
	for b.Loop() {
		err := w.Update(context.Background(), func(st *State) error {
			s, err := st.Session("sub 50/50")
			if err != nil {
				return err
			}
			s.ExpiresAt = time.Now()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolve10k: resolving a subscription name among 10,000 sessions.
func BenchmarkResolve10k(b *testing.B) {
	w := newWS(b)
	fill(b, w, 10000)
	st, _ := w.Load()
	b.ResetTimer()
	for b.Loop() {
		if _, err := st.Session("sub 99/99"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeMatchesStdlib: the state decoder (segmentio's, for speed)
// accepts exactly the files encoding/json accepts and reads the same
// state from them, so the faster reader changes no behaviour.
func FuzzDecodeMatchesStdlib(f *testing.F) {
	w := &Workspace{dir: "/nonexistent"}
	seed, _ := json.MarshalIndent(State{Schema: 1,
		Integrations: []Integration{{ID: "i1", Alias: "contoso", Tenant: "contoso.example", Cloud: azure.AzureCloud, Status: Online,
			Resources: []string{"https://vault.azure.net"}, CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}},
		Sessions: []Session{{ID: "s1", SubscriptionID: "aaaa", SubscriptionName: "Dev \u00e9 \"q\"", IntegrationID: "i1", Status: Active,
			ConfigDir: "/home/u/.azure", ExpiresAt: time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC)}},
	}, "", "  ")
	for _, s := range []string{string(seed), `{"schema":1}`, `{"schema":1,"sessions":null}`, `{"SCHEMA":1,"Sessions":[{"ID":"x"}]}`,
		`{"schema":1,"sessions":[{"id":"a\ud800b","status":"active"}]}`, `{"schema":1} x`, `{"schema":1,"schema":2}`,
		`{"schema":1.5}`, `{"schema":"1"}`, `{"schema":1,"integrations":[{"created_at":"yesterday"}]}`, "\ufeff{}", `[]`, `null`} {
		f.Add([]byte(s))
	}
	plain, _ := json.MarshalIndent(State{Schema: 1, Sessions: []Session{
		{ID: "s1", SubscriptionID: "aaaa", SubscriptionName: "Dev", TenantID: "t", IntegrationID: "i1", Status: Inactive},
		{ID: "s2", SubscriptionID: "bbbb", SubscriptionName: "Prod ünï", TenantID: "t", IntegrationID: "i1", Status: Active,
			ConfigDir: "/home/u/.azure", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), ExpiresAt: time.Date(2026, 1, 2, 4, 4, 5, 0, time.FixedZone("", 3600))}}}, "", "  ")
	f.Add(plain)
	f.Add([]byte(`{"schema":1,"sessions":[{"id":"a","id":"b"},{}]}`))
	f.Add([]byte(`{"schema":1,"sessions":[{"id":"a","expires_at":"2026-01-02T03:04:05+25:00"}]}`))
	f.Add([]byte(`{"schema":1,"sessions":[{"id":"a","Status":"active"}]}`))
	f.Add([]byte(`{"schema":1,"sessions":[{"id":"a","status":null}]}`))
	f.Add([]byte(`{"schema":1,"sessions":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// encoding/json on the same fields without Sessions' fast path.
		var plain struct {
			Schema       int           `json:"schema"`
			Integrations []Integration `json:"integrations"`
			Sessions     []Session     `json:"sessions"`
		}
		stdErr := json.Unmarshal(data, &plain)
		want := State{Schema: plain.Schema, Integrations: plain.Integrations, Sessions: plain.Sessions}
		// decode may keep pointers into its input: give it a copy.
		got, err := w.decode(string(data))
		if stdErr != nil {
			if err == nil {
				t.Fatalf("encoding/json refuses %q (%v) but decode accepts it", data, stdErr)
			}
			return
		}
		if want.Schema < 1 || want.Schema > SchemaVersion {
			if err == nil {
				t.Fatalf("schema %d accepted", want.Schema)
			}
			return
		}
		if err != nil {
			t.Fatalf("encoding/json accepts %q but decode refuses it: %v", data, err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Fatalf("decode of %q differs from encoding/json (-std +decode):\n%s", data, diff)
		}
	})
}

// TestFastPathReadsWhatAzkeepWrites: a state written by Update, with every
// kind of field azkeep fills, takes the fast path (fastload.go) and reads
// back as encoding/json reads it; names the fast path does not take (an
// escape) still read the same, through the general decoder.
func TestFastPathReadsWhatAzkeepWrites(t *testing.T) {
	for _, name := range []string{"Prod ünïcode 日本", `quote " and \ backslash`} {
		w := newWS(t)
		now := time.Date(2026, 11, 29, 7, 0, 0, 123456789, time.UTC)
		err := w.Update(context.Background(), func(st *State) error {
			st.Integrations = append(st.Integrations, Integration{ID: "i1", Alias: "contoso", Tenant: "contoso.example", TenantID: "t1",
				Location: "westeurope", Cloud: azure.AzureCloud, Status: Online, Resources: []string{"https://vault.azure.net"},
				Username: "ada@contoso.example", HomeAccountID: "u.t1", CreatedAt: now, LoggedInAt: now})
			st.SyncSessions("i1", []Subscription{{ID: "AAAA", Name: "Dev", TenantID: "t1"}, {ID: "BBBB", Name: name, TenantID: "t1"}})
			st.Sessions[1].Status, st.Sessions[1].ConfigDir = Active, "/home/ada/.azure"
			st.Sessions[1].StartedAt, st.Sessions[1].ExpiresAt = now, now.Add(time.Hour).In(time.FixedZone("", 3600))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(w.Path())
		if err != nil {
			t.Fatal(err)
		}
		_, fastErr := decodeFast(string(data))
		if escaped := strings.ContainsRune(name, '"'); (fastErr == nil) == escaped {
			t.Errorf("%q: fast path error %v", name, fastErr)
		}
		var want State
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		got, err := w.Load()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("%q: Load differs from encoding/json (-want +got):\n%s", name, diff)
		}
	}
}

// TestLongListReadInTwo: a session list long enough to be read in two
// halves reads as encoding/json reads it — as azkeep writes it, with
// braces in names (more braces than sessions), and with the sessions
// before a long integration list (the cut lands in the integrations, so
// the halves do not fit and the general decoder reads the file).
func TestLongListReadInTwo(t *testing.T) {
	st := State{Schema: 1}
	for i := range 60 {
		st.Integrations = append(st.Integrations, Integration{ID: fmt.Sprintf("i%d", i), Alias: fmt.Sprintf("a%d", i), Cloud: azure.AzureCloud, Status: Online})
	}
	for i := range 3000 {
		name := fmt.Sprintf("sub %d", i)
		if i%500 == 7 {
			name = "odd {name} }," + "\u00e9"
		}
		st.Sessions = append(st.Sessions, Session{ID: fmt.Sprintf("s%d", i), SubscriptionID: fmt.Sprintf("%08d-0000", i), SubscriptionName: name,
			TenantID: "t", IntegrationID: fmt.Sprintf("i%d", i%60), Status: Inactive})
	}
	indented, _ := json.MarshalIndent(st, "", "  ")
	if len(indented) < 2*splitThreshold {
		t.Fatalf("only %d bytes: the list would not be split", len(indented))
	}
	// Sessions first, then integrations as long as the sessions.
	var reordered strings.Builder
	sess, _ := json.MarshalIndent(st.Sessions, "  ", "  ")
	ints := append([]Integration(nil), st.Integrations...)
	for len(ints) < 3000 {
		ints = append(ints, st.Integrations...)
	}
	intsJSON, _ := json.MarshalIndent(ints, "  ", "  ")
	fmt.Fprintf(&reordered, "{\n  \"schema\": 1,\n  \"sessions\": %s,\n  \"integrations\": %s\n}\n", sess, intsJSON)

	w := &Workspace{dir: "/nonexistent"}
	for name, data := range map[string]string{"as written": string(indented), "sessions first": reordered.String()} {
		p := &parser{s: data}
		if i := strings.Index(data, `"sessions": [`); i >= 0 {
			p.i = i + len(`"sessions": [`)
		}
		if name == "as written" {
			if p.splitAt() == 0 {
				t.Errorf("%s: no cut found", name)
			}
			if _, err := decodeFast(data); err != nil {
				t.Errorf("%s: not read on the fast path: %v", name, err)
			}
		}
		var want State
		if err := json.Unmarshal([]byte(data), &want); err != nil {
			t.Fatal(err)
		}
		got, err := w.decode(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("%s: differs from encoding/json (-want +got):\n%s", name, diff)
		}
	}
}

// Regression: a state file nested 5,000,000 deep crashed azkeep with
// "fatal error: stack overflow" (20,000 deep gave a clean error).
func TestDeeplyNestedStateFails(t *testing.T) {
	ws, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	deep := `{"schema":1,"integrations":` + strings.Repeat("[", 5_000_000) + strings.Repeat("]", 5_000_000) + `}`
	if err := os.WriteFile(ws.Path(), []byte(deep), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ws.Load()
	if err == nil || !strings.Contains(err.Error(), "nests deeper") || hint.Of(err) == "" {
		t.Fatalf("got %v", err)
	}
	// Brackets inside strings do not count.
	if err := checkDepth(`{"a":"` + strings.Repeat("[", 1000) + `\"["}`); err != nil {
		t.Fatal(err)
	}
}
