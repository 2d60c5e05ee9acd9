package miserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
)

const fakeToken = "eyJ0eXAiOiJKV1QifQ.fake-access-token-for-tests"

type fakeSource struct {
	mu    sync.Mutex
	calls []string
	exp   time.Time
	err   error
}

func (f *fakeSource) get(_ context.Context, resource string) (string, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, resource)
	if f.err != nil {
		return "", time.Time{}, f.err
	}
	return fmt.Sprintf("%s-%d", fakeToken, len(f.calls)), f.exp, nil
}

func start(t *testing.T, src TokenSource, opts Options) *Server {
	t.Helper()
	s, err := Start(src, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// noProxy is a client that never goes through HTTPS_PROXY/HTTP_PROXY.
var noProxy = &http.Client{Transport: &http.Transport{Proxy: nil}}

func get(t *testing.T, s *Server, mutate func(*http.Request)) (*http.Response, []byte) {
	t.Helper()
	u := s.Endpoint() + "?api-version=2019-08-01&resource=" + url.QueryEscape("https://management.azure.com/")
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(HeaderName, s.Secret())
	if mutate != nil {
		mutate(req)
	}
	resp, err := noProxy.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestServesToken(t *testing.T) {
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	src := &fakeSource{exp: exp}
	s := start(t, src.get, Options{})
	if !strings.HasPrefix(s.Endpoint(), "http://127.0.0.1:") || !strings.HasSuffix(s.Endpoint(), Path) {
		t.Fatalf("endpoint %q", s.Endpoint())
	}
	if len(s.Secret()) != 64 {
		t.Fatalf("secret is %d hex chars, want 64 (32 bytes)", len(s.Secret()))
	}
	resp, body := get(t, s, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"access_token": fakeToken + "-1",
		"expires_on":   fmt.Sprint(exp.Unix()),
		"resource":     "https://management.azure.com/",
		"token_type":   "Bearer",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	// Second call is served from the cache.
	get(t, s, nil)
	if len(src.calls) != 1 {
		t.Fatalf("source called %d times, want 1", len(src.calls))
	}
	// "/" is accepted too (some clients strip the path).
	resp, body = get(t, s, func(r *http.Request) { r.URL.Path = "/" })
	if resp.StatusCode != 200 {
		t.Fatalf("status %d on /: %s", resp.StatusCode, body)
	}
}

func TestRefusals(t *testing.T) {
	src := &fakeSource{exp: time.Now().Add(time.Hour)}
	s := start(t, src.get, Options{})
	cases := []struct {
		name   string
		mutate func(*http.Request)
		status int
	}{
		{"missing header", func(r *http.Request) { r.Header.Del(HeaderName) }, 401},
		{"empty header", func(r *http.Request) { r.Header.Set(HeaderName, "") }, 401},
		{"wrong header", func(r *http.Request) { r.Header.Set(HeaderName, strings.Repeat("0", 64)) }, 403},
		{"secret prefix", func(r *http.Request) { r.Header.Set(HeaderName, s.Secret()[:63]) }, 403},
		{"two headers", func(r *http.Request) { r.Header.Add(HeaderName, "x") }, 403},
		{"foreign host", func(r *http.Request) { r.Host = "evil.example" }, 421},
		{"localhost host", func(r *http.Request) { r.Host = strings.Replace(r.URL.Host, "127.0.0.1", "localhost", 1) }, 421},
		{"post", func(r *http.Request) { r.Method = http.MethodPost }, 405},
		{"head", func(r *http.Request) { r.Method = http.MethodHead }, 405},
		{"other path", func(r *http.Request) { r.URL.Path = "/metadata/identity/oauth2/token" }, 404},
		{"no resource", func(r *http.Request) { r.URL.RawQuery = "api-version=2019-08-01" }, 400},
		{"old api", func(r *http.Request) { r.URL.RawQuery = "api-version=2017-09-01&resource=x" }, 400},
		{"user assigned", func(r *http.Request) { r.URL.RawQuery += "&client_id=abc" }, 400},
		{"user assigned by object id", func(r *http.Request) { r.URL.RawQuery += "&object_id=abc" }, 400},
		// A resource with a line break or a space is the client's mistake
		// (or an attack on a log): 400, never a 5xx that invites a retry.
		{"resource with CR LF", func(r *http.Request) {
			r.URL.RawQuery = "api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net%0D%0AX-Evil%3A%201"
		}, 400},
		{"resource with a space", func(r *http.Request) { r.URL.RawQuery = "api-version=2019-08-01&resource=https%3A%2F%2Fa%20b" }, 400},
		{"resource with NUL", func(r *http.Request) { r.URL.RawQuery = "api-version=2019-08-01&resource=a%00b" }, 400},
		{"resource too long", func(r *http.Request) { r.URL.RawQuery = "api-version=2019-08-01&resource=" + strings.Repeat("a", 4097) }, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := get(t, s, c.mutate)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if bytes.Contains(body, []byte(fakeToken)) || bytes.Contains(body, []byte(s.Secret())) {
				t.Fatalf("refusal leaks a token or the secret: %s", body)
			}
			if c.status == 405 && resp.Header.Get("Allow") != "GET" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
			if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	if len(src.calls) != 0 {
		t.Fatalf("token source consulted %d times for refused requests", len(src.calls))
	}
}

// Regression: azidentity (as Terraform's azapi provider uses it) sends
// client_id= empty for the system-assigned identity; an empty identity
// parameter means the session's own identity and must be served.
func TestEmptyIdentityParametersAreTheSessionsIdentity(t *testing.T) {
	src := &fakeSource{exp: time.Now().Add(time.Hour)}
	s := start(t, src.get, Options{})
	for _, k := range []string{"client_id", "object_id", "mi_res_id", "principal_id"} {
		t.Run(k, func(t *testing.T) {
			resp, body := get(t, s, func(r *http.Request) { r.URL.RawQuery += "&" + k + "=" })
			if resp.StatusCode != 200 {
				t.Fatalf("status %d with empty %s: %s", resp.StatusCode, k, body)
			}
		})
	}
}

func TestNonLoopbackPeer(t *testing.T) {
	src := &fakeSource{exp: time.Now().Add(time.Hour)}
	s, err := newServer(src.get, Options{}, "127.0.0.1:4242")
	if err != nil {
		t.Fatal(err)
	}
	for _, peer := range []string{"192.0.2.7:5555", "[2001:db8::1]:5555", "garbage"} {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:4242/msi/token?api-version=2019-08-01&resource=r", nil)
		req.RemoteAddr = peer
		req.Header.Set(HeaderName, s.Secret())
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 403 {
			t.Errorf("peer %s: status %d, want 403", peer, rec.Code)
		}
	}
	for _, peer := range []string{"127.0.0.1:5555", "[::1]:5555"} {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:4242/msi/token?api-version=2019-08-01&resource=r", nil)
		req.RemoteAddr = peer
		req.Header.Set(HeaderName, s.Secret())
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("peer %s: status %d, want 200", peer, rec.Code)
		}
	}
}

func TestSourceErrors(t *testing.T) {
	src := &fakeSource{err: fmt.Errorf("redeem: %w", &azure.NeedsLoginError{Code: "invalid_grant"})}
	s := start(t, src.get, Options{})
	resp, body := get(t, s, nil)
	if resp.StatusCode != 400 || !bytes.Contains(body, []byte(`"invalid_grant"`)) {
		t.Fatalf("needs-login: %d %s", resp.StatusCode, body)
	}
	src.err = errors.New("connection refused")
	resp, body = get(t, s, nil)
	if resp.StatusCode != 502 {
		t.Fatalf("upstream failure: %d %s", resp.StatusCode, body)
	}
	if bytes.Contains(body, []byte("connection refused")) {
		t.Fatalf("internal error text leaked: %s", body)
	}
}

// A token closer to expiry than MinValidity is fetched again; MSAL would
// otherwise treat the served token as expired (its 5-minute rule).
func TestCacheHonoursMinValidity(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	src := &fakeSource{exp: now.Add(20 * time.Minute)}
	s := start(t, src.get, Options{Now: func() time.Time { return now }, MinValidity: 10 * time.Minute})
	get(t, s, nil)
	now = now.Add(9 * time.Minute) // 11 min left: cached
	get(t, s, nil)
	if len(src.calls) != 1 {
		t.Fatalf("calls %d, want 1", len(src.calls))
	}
	now = now.Add(2 * time.Minute) // 9 min left: refetch
	_, body := get(t, s, nil)
	if len(src.calls) != 2 || !bytes.Contains(body, []byte(fakeToken+"-2")) {
		t.Fatalf("calls %d body %s", len(src.calls), body)
	}
	// Another resource has its own entry.
	get(t, s, func(r *http.Request) {
		r.URL.RawQuery = "api-version=2019-08-01&resource=" + url.QueryEscape("https://vault.azure.net")
	})
	if len(src.calls) != 3 || src.calls[2] != "https://vault.azure.net" {
		t.Fatalf("calls %v", src.calls)
	}
}

func TestLogNeverHoldsSecrets(t *testing.T) {
	var log bytes.Buffer
	var mu sync.Mutex
	src := &fakeSource{exp: time.Now().Add(time.Hour)}
	s := start(t, src.get, Options{Logf: func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&log, f+"\n", a...)
	}})
	get(t, s, nil)
	get(t, s, func(r *http.Request) { r.Header.Set(HeaderName, "wrong") })
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "-> 200") || !strings.Contains(log.String(), "-> 403") {
		t.Fatalf("log: %s", log.String())
	}
	if strings.Contains(log.String(), fakeToken) || strings.Contains(log.String(), s.Secret()) {
		t.Fatalf("log leaks: %s", log.String())
	}
}

func TestConcurrentFetchesAreSerialised(t *testing.T) {
	var inFlight, maxInFlight int
	var mu sync.Mutex
	src := func(ctx context.Context, resource string) (string, time.Time, error) {
		mu.Lock()
		inFlight++
		if inFlight > maxInFlight {
			maxInFlight = inFlight
		}
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return fakeToken, time.Now().Add(time.Minute), nil // below MinValidity: never cached
	}
	s := start(t, src, Options{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(t, s, nil)
		}()
	}
	wg.Wait()
	if maxInFlight != 1 {
		t.Fatalf("%d concurrent fetches; a rotating refresh token needs them serialised", maxInFlight)
	}
}

func TestEnv(t *testing.T) {
	s := start(t, (&fakeSource{}).get, Options{})
	env := s.Env()
	if len(env) != 2 || env[0] != "IDENTITY_ENDPOINT="+s.Endpoint() || env[1] != "IDENTITY_HEADER="+s.Secret() {
		t.Fatalf("env %v", env)
	}
	s2 := start(t, (&fakeSource{}).get, Options{})
	if s2.Secret() == s.Secret() || s2.Endpoint() == s.Endpoint() {
		t.Fatal("two servers share a secret or a port")
	}
}

// BenchmarkCachedToken: one SDK request answered from the cache, over
// loopback HTTP (keep-alive), checks included.
func BenchmarkCachedToken(b *testing.B) {
	src := &fakeSource{exp: time.Now().Add(time.Hour)}
	s, err := Start(src.get, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u := s.Endpoint() + "?api-version=2019-08-01&resource=" + url.QueryEscape("https://vault.azure.net")
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set(HeaderName, s.Secret())
		resp, err := noProxy.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode)
		}
	}
}

// Close cancels a fetch in flight and returns only once its handler has
// finished: exec removes the per-session dir right after.
func TestCloseCancelsInFlightFetch(t *testing.T) {
	started := make(chan struct{})
	finished := make(chan struct{})
	src := func(ctx context.Context, resource string) (string, time.Time, error) {
		close(started)
		<-ctx.Done()
		close(finished)
		return "", time.Time{}, ctx.Err()
	}
	s, err := Start(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.Endpoint()+"?api-version=2019-08-01&resource=r", nil)
		req.Header.Set(HeaderName, s.Secret())
		if resp, err := noProxy.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	s.Close()
	select {
	case <-finished:
	default:
		t.Fatal("Close returned while a fetch was still running")
	}
}
