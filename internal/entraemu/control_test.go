package entraemu

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestControlAPI(t *testing.T) {
	e := start(t, Config{Tenants: 2})
	ten := e.Tenants()[0]
	u := ten.Users[0]
	direct := &http.Client{} // the control API is on the emulator's own port
	call := func(method, path, body string, header bool) (int, string) {
		req, _ := http.NewRequest(method, e.ControlURL()+path, strings.NewReader(body))
		if header {
			req.Header.Set(ControlHeader, "1")
		}
		resp, err := direct.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := call("GET", "/state", "", false)
	var snap Snapshot
	if st != 200 || json.Unmarshal([]byte(body), &snap) != nil || len(snap.Tenants) != 2 || snap.Env["HTTPS_PROXY"] != e.ProxyURL() {
		t.Fatalf("state: %d %s", st, body)
	}
	if st, _ := call("POST", "/revoke", `{"username":"`+u.Username+`"}`, false); st != 403 {
		t.Errorf("a change without the control header: %d", st)
	}
	rt := passwordLogin(t, e, u, ten.ID).str("refresh_token")
	if st, body := call("POST", "/revoke", `{"username":"`+u.Username+`"}`, true); st != 200 {
		t.Fatalf("revoke: %d %s", st, body)
	}
	if a := refresh(t, e, ten.ID, rt, armScope); a.str("error") != "invalid_grant" {
		t.Errorf("revoked through the API: %v", a.body)
	}
	st, body = call("POST", "/subscriptions", `{"tenant":"`+ten.ID+`","name":"new one"}`, true)
	var sub SnapshotSubscription
	if st != 201 || json.Unmarshal([]byte(body), &sub) != nil || sub.Name != "new one" {
		t.Fatalf("add subscription: %d %s", st, body)
	}
	if st, body := call("PATCH", "/subscriptions/"+sub.ID, `{"name":"renamed","state":"Disabled"}`, true); st != 200 {
		t.Errorf("patch: %d %s", st, body)
	}
	got, _ := e.Tenant(ten.ID)
	last := got.Subscriptions[len(got.Subscriptions)-1]
	if last.Name != "renamed" || last.State != "Disabled" {
		t.Errorf("after patch: %+v", last)
	}
	if st, _ := call("DELETE", "/subscriptions/"+sub.ID, "", true); st != 200 {
		t.Errorf("delete: %d", st)
	}
	if st, _ := call("DELETE", "/subscriptions/"+sub.ID, "", true); st != 400 {
		t.Errorf("delete twice: %d", st)
	}
	if st, body := call("POST", "/settings", `{"latency":"1ms","token_lifetime":"7m","strict_refresh":true,"device_polls":2}`, true); st != 200 || !e.StrictRefresh() || e.TokenLifetime().Minutes() != 7 {
		t.Errorf("settings: %d %s", st, body)
	}
	if st, _ := call("POST", "/settings", `{"token_lifetime":"1s"}`, true); st != 400 {
		t.Errorf("a 1s lifetime was accepted: %d", st)
	}
	if st, _ := call("POST", "/faults", `{"grant_type":"password","status":502,"count":1}`, true); st != 200 {
		t.Errorf("fault: %d", st)
	}
	a := post(t, e, ten.ID, url.Values{"grant_type": {"password"}, "client_id": {cliClient}})
	if a.status != 502 {
		t.Errorf("fault through the API: %d", a.status)
	}
	st, body = call("GET", "/requests", "", false)
	var log []Request
	if st != 200 || json.Unmarshal([]byte(body), &log) != nil || len(log) == 0 || strings.Contains(body, RefreshTokenPrefix) || strings.Contains(body, u.Password) {
		t.Errorf("requests: %d %.300s", st, body)
	}
	if st, _ := call("POST", "/nope", "{}", true); st != 404 {
		t.Errorf("unknown control: %d", st)
	}
	if st, _ := call("POST", "/revoke", `{"user":"x"}`, true); st != 400 {
		t.Errorf("unknown field: %d", st)
	}
}
