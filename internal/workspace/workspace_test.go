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

// schema1 is a state file as azkeep wrote it before session rows.
const schema1 = `{
  "schema": 1,
  "integrations": [
    {
      "id": "i1",
      "alias": "contoso",
      "tenant": "contoso.example",
      "tenant_id": "t1",
      "cloud": {
        "name": "AzureCloud",
        "authority_host": "https://login.microsoftonline.com",
        "arm_endpoint": "https://management.azure.com/",
        "arm_resource": "https://management.core.windows.net/"
      },
      "status": "online",
      "created_at": "2026-11-29T07:00:00.123456789Z"
    }
  ],
  "sessions": [
    {
      "id": "s1",
      "subscription_id": "aaaa",
      "subscription_name": "Dev",
      "tenant_id": "t1",
      "integration_id": "i1",
      "status": "inactive"
    },
    {
      "id": "s2",
      "subscription_id": "bbbb",
      "subscription_name": "Prod \"ünï\"",
      "tenant_id": "t1",
      "integration_id": "i1",
      "status": "active",
      "config_dir": "/home/ada/.azure",
      "started_at": "2026-11-29T07:00:00.123456789Z",
      "expires_at": "2026-11-29T09:00:00+01:00"
    }
  ]
}
`

// TestSchema1LoadsAndIsUpgraded: a state file of schema 1 (sessions as
// objects) reads as before, and the next write turns it into schema 2
// with the same content.
func TestSchema1LoadsAndIsUpgraded(t *testing.T) {
	w := newWS(t)
	if err := os.WriteFile(w.Path(), []byte(schema1), 0o600); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 29, 7, 0, 0, 123456789, time.UTC)
	want := &State{Schema: 1,
		Integrations: []Integration{{ID: "i1", Alias: "contoso", Tenant: "contoso.example", TenantID: "t1", Cloud: azure.AzureCloud, Status: Online, CreatedAt: created}},
		Sessions: []Session{
			{ID: "s1", SubscriptionID: "aaaa", SubscriptionName: "Dev", TenantID: "t1", IntegrationID: "i1", Status: Inactive},
			{ID: "s2", SubscriptionID: "bbbb", SubscriptionName: `Prod "ünï"`, TenantID: "t1", IntegrationID: "i1", Status: Active,
				ConfigDir: "/home/ada/.azure", StartedAt: created, ExpiresAt: time.Date(2026, 11, 29, 9, 0, 0, 0, time.FixedZone("", 3600))},
		}}
	st, err := w.Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("schema 1 read (-want +got):\n%s", diff)
	}
	if err := w.Update(context.Background(), func(*State) error { return nil }); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	var head struct {
		Schema   int             `json:"schema"`
		Sessions json.RawMessage `json:"sessions"`
		Groups   []sessionGroup  `json:"session_groups"`
	}
	if err := json.Unmarshal(data, &head); err != nil || head.Schema != 2 || head.Sessions != nil || len(head.Groups) != 1 || len(head.Groups[0].Sessions) != 2 {
		t.Fatalf("not upgraded to schema 2 (%v):\n%s", err, data)
	}
	st, err = w.Load()
	if err != nil {
		t.Fatal(err)
	}
	want.Schema = 2
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("after the upgrade (-want +got):\n%s", diff)
	}
}

// TestSessionRowsRoundTrip: every kind of field a session holds, odd
// strings included, reads back as written, in order, and the file keeps
// one session to a line.
func TestSessionRowsRoundTrip(t *testing.T) {
	w := newWS(t)
	now := time.Date(2026, 11, 29, 7, 0, 0, 123456789, time.UTC)
	sessions := []Session{
		{ID: "s1", SubscriptionID: "aaaa", SubscriptionName: "Dev", TenantID: "t1", IntegrationID: "i1", Status: Inactive},
		{ID: "s2", SubscriptionID: "bbbb", SubscriptionName: "tab\tnew\nline \"q\" \\ <&> 日本 \u2028", TenantID: "t1", IntegrationID: "i1",
			Status: Active, ConfigDir: "/home/a b/.azure", StartedAt: now, ExpiresAt: now.Add(time.Hour).In(time.FixedZone("", -5*3600))},
		{ID: "s3", IntegrationID: "i1", Status: Pending, ExpiresAt: now},
		{ID: "s4", SubscriptionID: "cccc", TenantID: "t2", IntegrationID: "i2", Status: Inactive},
		{},
		{ID: "s5", SubscriptionID: "dddd", TenantID: "t1", IntegrationID: "i1", Status: Inactive},
	}
	err := w.Update(context.Background(), func(st *State) error {
		st.Sessions = append(st.Sessions, sessions...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := w.Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sessions, st.Sessions); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	data, _ := os.ReadFile(w.Path())
	if !json.Valid(data) {
		t.Fatalf("not JSON:\n%s", data)
	}
	if n := strings.Count(string(data), "\n      [\""); n != 5 { // the empty session is []
		t.Errorf("%d session lines, want 5 and an empty row:\n%s", n, data)
	}
}

func TestBadSessionRowsAreCorrupt(t *testing.T) {
	cols, _ := json.Marshal(sessionColumns)
	for name, content := range map[string]string{
		"columns":  `{"schema": 2, "session_columns": ["id"], "session_groups": []}`,
		"nocolumn": `{"schema": 2, "session_groups": []}`,
		"time":     `{"schema": 2, "session_columns": ` + string(cols) + `, "session_groups": [{"sessions": [["s","a","n","active","/d","yesterday"]]}]}`,
		"null":     `{"schema": 2, "session_columns": ` + string(cols) + `, "session_groups": [{"sessions": [null]}]}`,
		"object":   `{"schema": 2, "session_columns": ` + string(cols) + `, "session_groups": [{"sessions": [{"id": "s"}]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			w := newWS(t)
			if err := os.WriteFile(w.Path(), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Load(); err == nil || hint.Of(err) == "" {
				t.Fatalf("Load: want an error with a hint, got %v", err)
			}
		})
	}
}

// FuzzSessionRowsRoundTrip: any sessions the file can hold read back as
// written, in order, within a group and across groups.
func FuzzSessionRowsRoundTrip(f *testing.F) {
	f.Add("s1", "aaaa", "Dev", "t1", "i1", "active", "/home/u/.azure", int64(1795000000), int64(123456789), 60)
	f.Add("", "", "", "", "", "", "", int64(0), int64(0), 0)
	f.Add("x", "\u00e9\"", "tab\tnl\n<&>\u2028\xff", "", "i", "inactive", "", int64(-1), int64(1), -60)
	f.Fuzz(func(t *testing.T, id, sub, name, tenant, in, status, dir string, sec, nsec int64, offset int) {
		when := time.Time{}
		if sec != 0 {
			// RFC 3339 offsets are whole minutes under a day.
			when = time.Unix(sec, nsec%1e9).In(time.FixedZone("", offset%(24*60)*60))
		}
		s := Session{ID: id, SubscriptionID: sub, SubscriptionName: name, TenantID: tenant, IntegrationID: in,
			Status: SessionStatus(status), ConfigDir: dir, StartedAt: when, ExpiresAt: when}
		other := s // another tenant: a group of its own
		other.TenantID += "x"
		want := []Session{s, s, other}
		data, err := encodeState(&State{Sessions: want})
		if err != nil {
			return // a year outside 0–9999 has no RFC 3339 form (encoding/json refuses it too)
		}
		st, err := decodeState(data)
		if err != nil {
			t.Fatalf("%v:\n%s", err, data)
		}
		// encoding/json writes invalid UTF-8 as U+FFFD: compare with
		// what it makes of each string.
		viaJSON := func(s string) string {
			b, _ := json.Marshal(s)
			var out string
			json.Unmarshal(b, &out)
			return out
		}
		for i := range want {
			w := &want[i]
			for _, p := range []*string{&w.ID, &w.SubscriptionID, &w.SubscriptionName, &w.TenantID, &w.IntegrationID, &w.ConfigDir} {
				*p = viaJSON(*p)
			}
			w.Status = SessionStatus(viaJSON(string(w.Status)))
		}
		if diff := cmp.Diff(want, st.Sessions); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
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
	if err := checkDepth([]byte(`{"a":"` + strings.Repeat("[", 1000) + `\"["}`)); err != nil {
		t.Fatal(err)
	}
}
