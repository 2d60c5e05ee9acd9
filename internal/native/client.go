package native

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// bypassProxy reports whether NO_PROXY (comma-separated hosts, domain
// suffixes with or without a leading dot, or "*") exempts host.
func bypassProxy(host, noProxy string) bool {
	host = strings.ToLower(host)
	for _, p := range strings.Split(noProxy, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if h, _, err := net.SplitHostPort(p); err == nil {
			p = h
		}
		switch {
		case p == "":
		case p == "*":
			return true
		case host == strings.TrimPrefix(p, "."):
			return true
		case strings.HasSuffix(host, "."+strings.TrimPrefix(p, ".")):
			return true
		}
	}
	return false
}

// ClientFromEnv builds the HTTP client a native request uses from an
// explicit environment (KEY=VALUE), the way az reads the same variables:
// HTTPS_PROXY (or https_proxy, with NO_PROXY) and the CA bundle of SSL_CERT_FILE or
// REQUESTS_CA_BUNDLE added to the system roots. With none of them set it
// is an ordinary client. The demo passes the emulator's environment.
func ClientFromEnv(env []string) (*http.Client, error) {
	get := func(k string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if name, v, ok := strings.Cut(env[i], "="); ok && name == k {
				return v
			}
		}
		return ""
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if p := cmp.Or(get("HTTPS_PROXY"), get("https_proxy")); p != "" {
		u, err := url.Parse(p)
		if err != nil {
			return nil, fmt.Errorf("HTTPS_PROXY=%q is not a URL: %w", p, err)
		}
		noProxy := cmp.Or(get("NO_PROXY"), get("no_proxy"))
		tr.Proxy = func(r *http.Request) (*url.URL, error) {
			if bypassProxy(r.URL.Hostname(), noProxy) {
				return nil, nil
			}
			return u, nil
		}
	}
	if ca := cmp.Or(get("SSL_CERT_FILE"), get("REQUESTS_CA_BUNDLE")); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

// requestTimeout bounds one request to the token endpoint or ARM when the
// client sets no bound of its own (http.DefaultClient): an endpoint that
// never answers would hold the procedures' lock for good, and every start
// and stop of the same home would wait on it.
const requestTimeout = 60 * time.Second

// bounded is client (http.DefaultClient when nil) with requestTimeout when
// it has no timeout.
func bounded(client *http.Client) *http.Client {
	if client == nil {
		client = http.DefaultClient
	}
	if client.Timeout > 0 {
		return client
	}
	c := *client
	c.Timeout = requestTimeout
	return &c
}
