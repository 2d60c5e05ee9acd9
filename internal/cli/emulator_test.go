package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// The first line of `azkeep emulator --output json` is the contract scripts
// depend on: env with the three variables, tenants with users and
// subscriptions.
func TestEmulatorJSONFirstLine(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errb bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- emulatorRun(ctx, &EmulatorOptions{IO: IO{Out: pw, Err: &errb}, Tenants: 2, Subscriptions: 3, Users: 1, TokenLifetime: 10 * time.Minute, Output: "json", Addr: "127.0.0.1:0", Quiet: true})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Env     map[string]string `json:"env"`
		Tenants []struct {
			ID     string `json:"id"`
			Domain string `json:"domain"`
			Users  []struct {
				Username string `json:"username"`
				Password string `json:"password"`
			} `json:"users"`
			Subscriptions []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"subscriptions"`
		} `json:"tenants"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("first line is not JSON: %v: %q", err, line)
	}
	for _, k := range []string{"HTTPS_PROXY", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"} {
		if got.Env[k] == "" {
			t.Errorf("env.%s missing", k)
		}
	}
	if !strings.HasPrefix(got.Env["HTTPS_PROXY"], "http://127.0.0.1:") {
		t.Errorf("HTTPS_PROXY = %q", got.Env["HTTPS_PROXY"])
	}
	if len(got.Tenants) != 2 {
		t.Fatalf("tenants = %d, want 2", len(got.Tenants))
	}
	for _, tn := range got.Tenants {
		if tn.ID == "" || tn.Domain == "" || len(tn.Users) != 1 || tn.Users[0].Password == "" || len(tn.Subscriptions) != 3 || tn.Subscriptions[0].Name == "" {
			t.Errorf("tenant %+v", tn)
		}
	}
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestEmulatorRejectsBadFlags(t *testing.T) {
	for _, o := range []EmulatorOptions{
		{Tenants: 1, Users: 1, TokenLifetime: time.Hour, Output: "yaml"},
		{Tenants: 0, Users: 1, TokenLifetime: time.Hour, Output: "json"},
		{Tenants: 1, Users: 1, TokenLifetime: time.Second, Output: "json"},
		{Tenants: 1, Users: 1, TokenLifetime: time.Hour, Output: "json", Addr: "0.0.0.0:0"},
	} {
		var out, errb bytes.Buffer
		o.IO = IO{Out: &out, Err: &errb}
		if err := emulatorRun(context.Background(), &o); err == nil {
			t.Errorf("%+v: no error", o)
		}
		if out.Len() != 0 {
			t.Errorf("%+v printed %q", o, out.String())
		}
	}
}
