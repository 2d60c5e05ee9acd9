// Package miserver serves the Azure App Service managed-identity protocol
// (api-version 2019-08-01) on 127.0.0.1, so that SDK code using
// ManagedIdentityCredential or DefaultAzureCredential gets tokens from an
// azkeep session without az and without a secret in its environment beyond
// a per-process header value.
//
// The protocol, as the SDKs speak it (MSAL Go's managedidentity package,
// azure-identity for Python and JS): the client reads IDENTITY_ENDPOINT and
// IDENTITY_HEADER, sends
//
//	GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=R
//	X-IDENTITY-HEADER: $IDENTITY_HEADER
//
// and expects 200 with JSON {"access_token", "expires_on" (epoch seconds, a
// string on App Service), "resource", "token_type"}.
//
// Refusals, each with its own status code:
//
//	405 any method but GET (Allow: GET)
//	403 a peer that is not loopback
//	421 a Host header other than the one handed out (DNS rebinding)
//	401 no X-IDENTITY-HEADER (WWW-Authenticate names it)
//	403 a wrong X-IDENTITY-HEADER (constant-time compare)
//	404 a path other than the endpoint's
//	400 a missing or malformed resource, another api-version, or a
//	    user-assigned identity (an empty client_id, object_id, mi_res_id or
//	    principal_id names none: the session's identity is served)
//	400 invalid_grant when the session's refresh token was rejected
//	502 any other failure to get a token upstream
//
// Tokens are never logged: the optional Logf sees method, path, status and
// resource only.
package miserver

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode"

	"github.com/azkeep/azkeep/internal/azure"
)

// APIVersion is the App Service managed-identity API version served.
const APIVersion = "2019-08-01"

// Path is the endpoint's path, the one App Service itself uses.
const Path = "/msi/token"

// HeaderName is the request header carrying the secret.
const HeaderName = "X-IDENTITY-HEADER"

// TokenSource returns an access token for resource (e.g.
// "https://management.azure.com/" or "https://vault.azure.net") and its expiry.
// An error wrapping *azure.NeedsLoginError is answered as invalid_grant.
type TokenSource func(ctx context.Context, resource string) (token string, expiresOn time.Time, err error)

// Options tune a Server. The zero value is usable.
type Options struct {
	// MinValidity is how long a cached token must still be valid to be
	// served again without asking the TokenSource (default 10 minutes: MSAL
	// treats a token with less than 5 minutes left as expired).
	MinValidity time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logf, when set, receives one line per request: never a token or the secret.
	Logf func(format string, args ...any)
	// Timeout bounds one TokenSource call (default 60 s).
	Timeout time.Duration
}

// Server is a running managed-identity endpoint.
type Server struct {
	ln     net.Listener
	srv    *http.Server
	host   string // "127.0.0.1:port", the only Host accepted
	secret string // hex of 32 random bytes
	src    TokenSource
	opts   Options

	cancel context.CancelFunc // cancels in-flight fetches on Close

	mu    sync.Mutex // serialises fetches: refresh tokens rotate on use
	cache map[string]cached
	done  chan struct{}
}

type cached struct {
	token     string
	expiresOn time.Time
}

// Start listens on 127.0.0.1 on a random port and serves src.
func Start(src TokenSource, opts Options) (*Server, error) {
	if src == nil {
		return nil, errors.New("miserver: nil token source")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	s, err := newServer(src, opts, ln.Addr().String())
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.ln = ln
	base, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.srv = &http.Server{
		Handler:           s,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

func newServer(src TokenSource, opts Options, host string) (*Server, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("generate identity header: %w", err)
	}
	if opts.MinValidity <= 0 {
		opts.MinValidity = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	return &Server{
		host:   host,
		secret: hex.EncodeToString(b[:]),
		src:    src,
		opts:   opts,
		cache:  map[string]cached{},
	}, nil
}

// Endpoint is the value for IDENTITY_ENDPOINT.
func (s *Server) Endpoint() string { return "http://" + s.host + Path }

// Secret is the value for IDENTITY_HEADER. Hand it to the child only.
func (s *Server) Secret() string { return s.secret }

// Env returns IDENTITY_ENDPOINT and IDENTITY_HEADER as NAME=value pairs.
func (s *Server) Env() []string {
	return []string{"IDENTITY_ENDPOINT=" + s.Endpoint(), "IDENTITY_HEADER=" + s.secret}
}

// Close stops the server and waits for its handlers: in-flight fetches are
// cancelled first, so that nothing writes for the server once Close has
// returned (exec removes the per-session dir next). Cached tokens are dropped.
func (s *Server) Close() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	s.mu.Lock()
	s.cache = map[string]cached{}
	s.mu.Unlock()
	return err
}

// tokenResponse is the App Service 2019-08-01 answer. expires_on is epoch
// seconds as a string, as App Service sends it; MSAL Go, Python and JS
// azure-identity all accept that form.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"`
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
}

type errorResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// ServeHTTP implements the endpoint; every check happens before the token
// source is consulted.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resource := r.URL.Query().Get("resource")
	status := s.serve(w, r)
	if s.opts.Logf != nil {
		s.opts.Logf("miserver: %s %s resource=%q -> %d", r.Method, r.URL.Path, resource, status)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) int {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return fail(w, http.StatusMethodNotAllowed, "invalid_request", "only GET is served")
	}
	if !loopbackPeer(r.RemoteAddr) {
		return fail(w, http.StatusForbidden, "access_denied", "only loopback clients are served")
	}
	if r.Host != s.host {
		return fail(w, http.StatusMisdirectedRequest, "invalid_request", "unexpected Host header")
	}
	got, present := r.Header[http.CanonicalHeaderKey(HeaderName)]
	if !present || len(got) == 0 || got[0] == "" {
		w.Header().Set("WWW-Authenticate", HeaderName)
		return fail(w, http.StatusUnauthorized, "invalid_request", "missing "+HeaderName+" header")
	}
	if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(s.secret)) != 1 {
		return fail(w, http.StatusForbidden, "access_denied", "wrong "+HeaderName+" header")
	}
	if r.URL.Path != Path && r.URL.Path != "/" {
		return fail(w, http.StatusNotFound, "invalid_request", "no such endpoint")
	}
	q := r.URL.Query()
	if v := q.Get("api-version"); v != APIVersion {
		return fail(w, http.StatusBadRequest, "invalid_request", "api-version must be "+APIVersion)
	}
	resource := q.Get("resource")
	if resource == "" {
		return fail(w, http.StatusBadRequest, "invalid_request", "missing resource parameter")
	}
	if !validResource(resource) {
		return fail(w, http.StatusBadRequest, "invalid_request", "the resource parameter is not a resource URI or id")
	}
	// An empty identity parameter names no identity: azidentity sends
	// client_id= for the system-assigned one, which is the session's.
	for _, k := range []string{"client_id", "mi_res_id", "principal_id", "object_id"} {
		if q.Get(k) != "" {
			return fail(w, http.StatusBadRequest, "invalid_request",
				"user-assigned identities are not served: the endpoint serves the azkeep session only (unset AZURE_CLIENT_ID)")
		}
	}
	token, exp, err := s.token(r.Context(), resource)
	if err != nil {
		if azure.IsNeedsLogin(err) {
			return fail(w, http.StatusBadRequest, "invalid_grant", "the azkeep session needs a new login")
		}
		return fail(w, http.StatusBadGateway, "temporarily_unavailable", "could not get a token for the session")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(tokenResponse{
		AccessToken: token,
		ExpiresOn:   strconv.FormatInt(exp.Unix(), 10),
		Resource:    resource,
		TokenType:   "Bearer",
	})
	return http.StatusOK
}

// token returns a cached token with at least MinValidity left, or a new one.
// Fetches are serialised: the source redeems a rotating refresh token.
func (s *Server) token(ctx context.Context, resource string) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cache[resource]; ok && c.expiresOn.Sub(s.opts.Now()) > s.opts.MinValidity {
		return c.token, c.expiresOn, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	tok, exp, err := s.src(ctx, resource)
	if err != nil {
		return "", time.Time{}, err
	}
	if tok == "" {
		return "", time.Time{}, errors.New("token source returned an empty token")
	}
	s.cache[resource] = cached{token: tok, expiresOn: exp}
	return tok, exp, nil
}

// maxResource bounds a resource parameter; real ones (URIs, app ids) are
// far shorter.
const maxResource = 2048

// validResource reports whether resource can be a resource URI or an
// application id: bounded, without white space or control characters. A
// malformed one is the client's error (400), not a failure upstream.
func validResource(resource string) bool {
	if len(resource) > maxResource {
		return false
	}
	for _, r := range resource {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func fail(w http.ResponseWriter, status int, code, desc string) int {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errorResponse{Error: code, Description: desc})
	return status
}

func loopbackPeer(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
