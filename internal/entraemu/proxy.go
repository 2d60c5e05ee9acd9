package entraemu

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"
)

// ServedHosts are the hosts whose APIs the emulator answers itself.
var ServedHosts = []string{
	"login.microsoftonline.com",
	"login.windows.net",
	"login.microsoft.com",
	"management.azure.com",
	"graph.microsoft.com",
}

func isServed(host string) bool {
	host = strings.ToLower(host)
	for _, h := range ServedHosts {
		if h == host {
			return true
		}
	}
	return false
}

// Handle makes the emulator serve host on port 443 with h, behind TLS with
// a leaf of its CA, like the hosts it emulates: tests point a real client
// at a service's real name (https://dev.azure.com/…) without DNS or the
// internet. Requests to h are neither logged nor subject to faults.
func (e *Emulator) Handle(host string, h http.Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hosts == nil {
		e.hosts = map[string]http.Handler{}
	}
	e.hosts[strings.ToLower(host)] = h
}

// handler is the handler Handle added for host, or nil.
func (e *Emulator) handler(host string) http.Handler {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hosts[strings.ToLower(host)]
}

// isLoopbackHost reports whether host names a loopback address without a
// DNS lookup ("localhost" counts; any other name does not).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// dialLoopback is the only way the emulator opens a connection: it refuses
// anything but a literal loopback address (localhost maps to 127.0.0.1).
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(host, "localhost") {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("entraemu: refusing to dial non-loopback address %s", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
}

// serveProxy handles the requests that reach the listening port: CONNECT
// for served hosts (TLS terminated here) and loopback targets (tunnelled),
// plain-HTTP proxy requests for loopback, and a small status page.
func (e *Emulator) serveProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		e.serveConnect(w, r)
		return
	}
	if r.URL.IsAbs() {
		host := r.URL.Hostname()
		if r.URL.Scheme == "http" && isLoopbackHost(host) {
			e.forwardLoopback(w, r)
			return
		}
		e.refuse(w, r.Method, host, r.URL.Path, "only loopback targets are forwarded over plain HTTP")
		return
	}
	// A direct request to the emulator itself.
	if r.URL.Path == "/_emulator" || strings.HasPrefix(r.URL.Path, "/_emulator/") {
		e.serveControl(w, r)
		return
	}
	if r.URL.Path == "/" || r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "azkeep entraemu: an HTTPS proxy for %s; set HTTPS_PROXY=%s and trust %s\n",
			strings.Join(ServedHosts, ", "), e.ProxyURL(), e.caPath)
		return
	}
	http.NotFound(w, r)
}

func (e *Emulator) serveConnect(w http.ResponseWriter, r *http.Request) {
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "443"
	}
	switch {
	case (isServed(host) || e.handler(host) != nil) && port == "443":
		conn, buf, ok := hijack(w)
		if !ok {
			return
		}
		if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			conn.Close()
			return
		}
		leaf, err := e.ca.leaf(host)
		if err != nil {
			conn.Close()
			return
		}
		tc := tls.Server(&bufConn{Conn: conn, r: buf}, &tls.Config{
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
			Certificates: []tls.Certificate{*leaf},
		})
		if err := e.apiLn.push(tc); err != nil {
			tc.Close()
		}
	case isLoopbackHost(host):
		target, err := e.dial(r.Context(), "tcp", net.JoinHostPort(host, port))
		if err != nil {
			e.refuse(w, r.Method, r.Host, "", err.Error())
			return
		}
		conn, buf, ok := hijack(w)
		if !ok {
			target.Close()
			return
		}
		e.record(Request{Time: time.Now(), Host: r.Host, Method: r.Method, Status: 200, Tunnel: true})
		if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			conn.Close()
			target.Close()
			return
		}
		client := &bufConn{Conn: conn, r: buf}
		if !e.track(client, target) {
			client.Close()
			target.Close()
			return
		}
		go func() {
			splice(client, target)
			e.untrack(client, target)
		}()
	default:
		e.refuse(w, r.Method, r.Host, "", "not an emulated Azure host")
	}
}

// refuse answers 403, logs the refusal and records it; no connection is
// ever made for a refused host.
func (e *Emulator) refuse(w http.ResponseWriter, method, host, path, why string) {
	e.record(Request{Time: time.Now(), Host: host, Method: method, Path: path, Status: http.StatusForbidden, Refused: true})
	e.logf("entraemu: refused %s %s%s: %s", method, host, path, why)
	http.Error(w, "entraemu: refused "+host+": "+why, http.StatusForbidden)
}

func (e *Emulator) forwardLoopback(w http.ResponseWriter, r *http.Request) {
	e.record(Request{Time: time.Now(), Host: r.URL.Host, Method: r.Method, Path: r.URL.Path, Status: 0, Tunnel: true})
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = r.URL
			pr.Out.Host = r.Host
		},
		Transport: &http.Transport{DialContext: e.dial, Proxy: nil},
	}
	rp.ServeHTTP(w, r)
}

func hijack(w http.ResponseWriter) (net.Conn, io.Reader, bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "hijacking not supported", http.StatusInternalServerError)
		return nil, nil, false
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, false
	}
	return conn, rw.Reader, true
}

// bufConn reads first what the HTTP server had already buffered.
type bufConn struct {
	net.Conn
	r io.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}

// chanListener hands connections accepted elsewhere (TLS-wrapped CONNECT
// tunnels) to the API server.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) error {
	select {
	case l.ch <- c:
		return nil
	case <-l.done:
		return net.ErrClosed
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }
