// Package entraemu is a small Entra ID + Azure Resource Manager emulator that
// the real Azure CLI 2.45 accepts unchanged.
//
// It listens on 127.0.0.1 as an HTTPS proxy. Clients point HTTPS_PROXY at it
// and trust its CA (REQUESTS_CA_BUNDLE for az, SSL_CERT_FILE for Go). For a
// CONNECT to a host it serves (login.microsoftonline.com,
// management.azure.com, …) it terminates TLS with a leaf certificate signed
// by a CA generated at start and answers the emulated API itself; a CONNECT
// to a loopback address is tunnelled to loopback (with HTTPS_PROXY set, all
// of 127.0.0.1 goes through the proxy); every other host is refused and
// logged. The emulator never opens a connection to a non-loopback address.
//
// It serves what az's logins and token calls need: OpenID discovery,
// instance discovery, user realm, device code, the token endpoint (device
// code, password, refresh token, client credentials grants), ARM /tenants
// and /subscriptions. Refresh tokens rotate on every redemption; tests can
// revoke users, require interaction, add latency and 5xx faults, and read a
// request log that never holds a secret.
package entraemu

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Config sets up an emulator. Zero values take the defaults noted.
type Config struct {
	// Tenants is the number of tenants (default 1).
	Tenants int
	// SubscriptionsPerTenant is the number of subscriptions each tenant
	// starts with (default 2; negative for none).
	SubscriptionsPerTenant int
	// UsersPerTenant is the number of users per tenant (default 1).
	UsersPerTenant int
	// TokenLifetime is the access token lifetime (default 1h, Entra's
	// 60–90 minutes). The Azure CLI treats a token with less than 5 minutes
	// left as expired: tests use 6 minutes or more.
	TokenLifetime time.Duration
	// RefreshTokenLifetime, when set, makes a refresh token expire that long
	// after it was issued (invalid_grant AADSTS700082, as after 90 days of
	// inactivity); 0 keeps them valid.
	RefreshTokenLifetime time.Duration
	// StrictRefresh makes refresh tokens single-use: a redeemed one is
	// rejected with invalid_grant. Real Entra keeps old ones valid; strict
	// mode catches code that forgets to store the rotated token.
	StrictRefresh bool
	// DevicePolls is how many times the token endpoint answers
	// authorization_pending before a device code is approved (default 0:
	// approved at the first poll, as if the user had been quick).
	DevicePolls int
	// DeviceInterval is the polling interval the device code answer asks
	// for, in seconds (default 1).
	DeviceInterval int
	// Seed makes ids and passwords deterministic when non-zero (golden
	// files); 0 draws them at random.
	Seed int64
	// Addr is the listen address (default 127.0.0.1:0). It must be loopback.
	Addr string
	// Dir is where the CA certificate is written (default: a temp dir
	// removed by Close).
	Dir string
	// Logf, when set, receives one line per request and per refusal (never
	// a secret).
	Logf func(format string, args ...any)
	// Trace logs, through Logf, every request's headers and form fields
	// (secret values redacted): how the docs learned what az sends.
	Trace bool
}

// Tenant is one emulated Entra ID tenant.
type Tenant struct {
	ID          string
	Domain      string
	DisplayName string
	Users       []User
	// Guests are usernames of users of other tenants invited into this one
	// (AddGuest): they can sign in here too; their home tenant stays theirs.
	Guests            []string
	ServicePrincipals []ServicePrincipal
	Subscriptions     []Subscription
}

// User is a user account of a tenant.
type User struct {
	Username    string
	Password    string
	ObjectID    string
	DisplayName string
}

// ServicePrincipal is an app registration with a client secret.
type ServicePrincipal struct {
	AppID    string
	Secret   string
	ObjectID string
}

// Subscription is an ARM subscription of a tenant.
type Subscription struct {
	ID       string
	Name     string
	State    string // Enabled, Disabled, Warned, PastDue, Deleted
	TenantID string
}

// Emulator is a running emulator. Its methods are safe for concurrent use.
type Emulator struct {
	cfg    Config
	ln     net.Listener
	srv    *http.Server
	api    *http.Server
	apiLn  *chanListener
	ca     *authority
	caPath string
	tmpDir string // removed by Close when we created it
	signer *jwtSigner

	// dial opens loopback tunnels; tests in this package wrap it to prove
	// that no non-loopback address is ever dialled.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu      sync.Mutex
	tenants []*Tenant
	state   tokenState
	faults  []*Fault
	latency time.Duration
	log     []Request
	dials   []string // every address the emulator tried to dial
	rnd     *idSource

	tunnels map[net.Conn]struct{}   // open loopback tunnels, closed by Close
	hosts   map[string]http.Handler // hosts added by Handle
	closed  bool

	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Start generates a CA, listens on loopback and serves until Close.
func Start(cfg Config) (*Emulator, error) {
	if cfg.Tenants <= 0 {
		cfg.Tenants = 1
	}
	switch {
	case cfg.SubscriptionsPerTenant < 0:
		cfg.SubscriptionsPerTenant = 0
	case cfg.SubscriptionsPerTenant == 0:
		cfg.SubscriptionsPerTenant = 2
	}
	if cfg.UsersPerTenant <= 0 {
		cfg.UsersPerTenant = 1
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.DeviceInterval <= 0 {
		cfg.DeviceInterval = 1
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("entraemu: listen address %q: %w", cfg.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("entraemu: listen address %q is not loopback", cfg.Addr)
	}

	e := &Emulator{cfg: cfg, rnd: newIDSource(cfg.Seed)}
	e.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		e.mu.Lock()
		e.dials = append(e.dials, addr)
		e.mu.Unlock()
		return dialLoopback(ctx, network, addr)
	}
	e.state.init()
	if e.ca, err = newAuthority(); err != nil {
		return nil, err
	}
	if e.signer, err = newJWTSigner(e.rnd); err != nil {
		return nil, err
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "entraemu-"); err != nil {
			return nil, err
		}
		e.tmpDir = dir
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	e.caPath = filepath.Join(dir, "entraemu-ca.pem")
	if err := os.WriteFile(e.caPath, e.ca.certPEM, 0o644); err != nil {
		e.cleanup()
		return nil, err
	}
	e.populate()

	if e.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		e.cleanup()
		return nil, fmt.Errorf("entraemu: listen: %w", err)
	}
	e.apiLn = newChanListener(e.ln.Addr())
	e.api = &http.Server{Handler: http.HandlerFunc(e.serveAPI), ReadHeaderTimeout: 30 * time.Second}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serveProxy), ReadHeaderTimeout: 30 * time.Second}
	e.wg.Add(2)
	go func() { defer e.wg.Done(); _ = e.api.Serve(e.apiLn) }()
	go func() { defer e.wg.Done(); _ = e.srv.Serve(e.ln) }()
	return e, nil
}

// Close stops serving and removes the temp dir it made.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = e.srv.Shutdown(ctx)
		_ = e.srv.Close()
		e.mu.Lock()
		e.closed = true
		for c := range e.tunnels {
			c.Close()
		}
		e.mu.Unlock()
		_ = e.api.Shutdown(ctx)
		_ = e.api.Close()
		e.apiLn.Close()
		e.wg.Wait()
		e.cleanup()
	})
	return nil
}

// track registers tunnel connections so Close can end them; false once
// closed.
func (e *Emulator) track(conns ...net.Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	if e.tunnels == nil {
		e.tunnels = map[net.Conn]struct{}{}
	}
	for _, c := range conns {
		e.tunnels[c] = struct{}{}
	}
	return true
}

func (e *Emulator) untrack(conns ...net.Conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range conns {
		delete(e.tunnels, c)
	}
}

func (e *Emulator) cleanup() {
	if e.tmpDir != "" {
		_ = os.RemoveAll(e.tmpDir)
	}
}

// ProxyURL is the emulator's proxy address, e.g. http://127.0.0.1:41234.
func (e *Emulator) ProxyURL() string { return "http://" + e.ln.Addr().String() }

// Addr is the listen address, host:port.
func (e *Emulator) Addr() string { return e.ln.Addr().String() }

// CAPath is the PEM file of the emulator's CA certificate.
func (e *Emulator) CAPath() string { return e.caPath }

// CAPEM is the emulator's CA certificate in PEM.
func (e *Emulator) CAPEM() []byte { return append([]byte(nil), e.ca.certPEM...) }

// CertPool holds the emulator's CA alone.
func (e *Emulator) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(e.ca.cert)
	return p
}

// Env returns the variables that point az and Go clients at the emulator:
// HTTPS_PROXY, REQUESTS_CA_BUNDLE and SSL_CERT_FILE.
func (e *Emulator) Env() []string {
	return []string{
		"HTTPS_PROXY=" + e.ProxyURL(),
		"REQUESTS_CA_BUNDLE=" + e.caPath,
		"SSL_CERT_FILE=" + e.caPath,
	}
}

// Client returns an HTTP client that goes through the emulator's proxy and
// trusts its CA, for native (non-az) clients in tests.
func (e *Emulator) Client() *http.Client {
	u, _ := url.Parse(e.ProxyURL())
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               http.ProxyURL(u),
			TLSClientConfig:     &tls.Config{RootCAs: e.CertPool(), MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:   false,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		},
		Timeout: 60 * time.Second,
	}
}

// Dials returns every address the emulator has tried to open a connection
// to (loopback tunnels only; anything else is refused before dialling).
// Tests assert that it holds loopback addresses alone.
func (e *Emulator) Dials() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.dials...)
}

// Tenants returns a copy of the tenants, users and subscriptions.
func (e *Emulator) Tenants() []Tenant {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Tenant, len(e.tenants))
	for i, t := range e.tenants {
		c := *t
		c.Users = append([]User(nil), t.Users...)
		c.Guests = append([]string(nil), t.Guests...)
		c.ServicePrincipals = append([]ServicePrincipal(nil), t.ServicePrincipals...)
		c.Subscriptions = append([]Subscription(nil), t.Subscriptions...)
		out[i] = c
	}
	return out
}

// Tenant returns the tenant with this id or domain.
func (e *Emulator) Tenant(idOrDomain string) (Tenant, bool) {
	for _, t := range e.Tenants() {
		if equalFold(t.ID, idOrDomain) || equalFold(t.Domain, idOrDomain) {
			return t, true
		}
	}
	return Tenant{}, false
}

// TokenLifetime is the access token lifetime in force.
func (e *Emulator) TokenLifetime() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg.TokenLifetime
}

// StrictRefresh reports whether refresh tokens are single-use.
func (e *Emulator) StrictRefresh() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg.StrictRefresh
}

func (e *Emulator) logf(format string, args ...any) {
	if e.cfg.Logf != nil {
		e.cfg.Logf(format, args...)
	}
}
