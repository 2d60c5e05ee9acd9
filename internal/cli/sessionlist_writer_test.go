package cli

import (
	"bytes"
	"fmt"
	"testing"
)

// TestSessionsJSONMatchesEncoder: the hand-written session list JSON is
// byte for byte what encoding/json writes.
func TestSessionsJSONMatchesEncoder(t *testing.T) {
	odd := []string{"", "plain", `quote " back \ slash`, "<a&b>", "tab\there\nnl\r\x00\x1f\x7f", "é ünïcode 日本", "\u2028\u2029", "bad \xff utf8", "/home/u/.azure"}
	var views []SessionView
	for i, s := range odd {
		views = append(views, SessionView{ID: s, SubscriptionID: odd[(i+1)%len(odd)], SubscriptionName: s, TenantID: s, IntegrationID: s,
			Integration: odd[(i+2)%len(odd)], Status: s, ConfigDir: odd[(i+3)%len(odd)], StartedAt: odd[(i+4)%len(odd)], ExpiresAt: odd[(i+5)%len(odd)]})
	}
	// Enough sessions to fill the 64 KB buffer many times.
	var many []SessionView
	for len(many) < 2000 {
		many = append(many, views...)
	}
	for _, vs := range [][]SessionView{nil, {}, views[:1], views, many} {
		var want bytes.Buffer
		if vs == nil {
			vs = []SessionView{}
		}
		if err := writeJSON(&want, vs); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := writeSessionsJSON(&got, rowsOf(vs)); err != nil || !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("JSON differs (%v):\ngot  %q\nwant %q", err, got.Bytes(), want.Bytes())
		}
	}
}

// TestSessionsTableMatchesTabwriter: the hand-padded session table is byte
// for byte what the tabwriter writes, and control characters fall back to it.
func TestSessionsTableMatchesTabwriter(t *testing.T) {
	odd := []string{"", "plain", "a much longer subscription name", "é ünïcode 日本", "<a&b>", "x"}
	var views []SessionView
	for i, s := range odd {
		views = append(views, SessionView{ID: s, SubscriptionID: odd[(i+1)%len(odd)], SubscriptionName: odd[(i+2)%len(odd)],
			Integration: odd[(i+3)%len(odd)], Status: odd[(i+4)%len(odd)], ExpiresAt: odd[(i+5)%len(odd)]})
	}
	tabwriter := func(vs []SessionView) []byte {
		var want bytes.Buffer
		tw := newTable(&want)
		fmt.Fprintln(tw, "SESSION\tSUBSCRIPTION\tSUBSCRIPTION ID\tINTEGRATION\tSTATUS\tEXPIRES")
		for _, v := range vs {
			exp := v.ExpiresAt
			if exp == "" {
				exp = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.SubscriptionName, v.SubscriptionID, v.Integration, v.Status, exp)
		}
		if err := tw.Flush(); err != nil {
			t.Fatal(err)
		}
		return want.Bytes()
	}
	var many []SessionView
	for len(many) < 2000 {
		many = append(many, views...)
	}
	for _, vs := range [][]SessionView{nil, views[:1], views, many} {
		var got bytes.Buffer
		if done, err := writeSessionsTable(&got, rowsOf(vs)); err != nil || !done {
			t.Fatalf("declined plain cells (%v)", err)
		}
		if want := tabwriter(vs); !bytes.Equal(got.Bytes(), want) {
			t.Errorf("table differs:\ngot  %q\nwant %q", got.Bytes(), want)
		}
		var out bytes.Buffer
		if err := printSessions(&out, "table", vs); err != nil || !bytes.Equal(out.Bytes(), tabwriter(vs)) {
			t.Errorf("printSessions differs (%v)", err)
		}
	}
	bad := append([]SessionView(nil), views...)
	bad[2].SubscriptionName = "tab\there"
	var declined bytes.Buffer
	if done, _ := writeSessionsTable(&declined, rowsOf(bad)); done || declined.Len() > 0 {
		t.Error("a tab in a cell was not declined")
	}
	var out bytes.Buffer
	if err := printSessions(&out, "table", bad); err != nil || !bytes.Equal(out.Bytes(), tabwriter(bad)) {
		t.Errorf("printSessions with a tab differs (%v)", err)
	}
}
