package cli

// The session list's two writers. `session list` may print thousands of
// sessions, and encoding/json's indenting pass and text/tabwriter's cell
// buffering each cost more than the whole command's time budget for them
// (docs/performance.md). These write the same bytes directly: every
// string is checked for what encoding/json would escape and goes through
// json.Marshal when it holds any, and the table pads each column to its
// widest cell as newTable does. TestSessionsJSONMatchesEncoder and
// TestSessionsTableMatchesTabwriter compare them with the standard
// library's output.

import (
	"bufio"
	"encoding/json"
	"io"
	"unicode/utf8"
)

// writeSessionsJSON writes exactly what writeJSON writes for the views.
func writeSessionsJSON(w io.Writer, rows sessionRows) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if rows.n == 0 {
		bw.WriteString("[]\n")
		return bw.Flush()
	}
	bw.WriteString("[\n")
	for i := 0; i < rows.n; i++ {
		v := rows.view(i)
		b := append(bw.AvailableBuffer(), "  {\n"...)
		b = appendField(b, "id", v.ID, false)
		b = appendField(b, "subscription_id", v.SubscriptionID, false)
		b = appendField(b, "subscription_name", v.SubscriptionName, false)
		b = appendField(b, "tenant_id", v.TenantID, false)
		b = appendField(b, "integration_id", v.IntegrationID, false)
		b = appendField(b, "integration", v.Integration, false)
		b = appendField(b, "status", v.Status, false)
		b = appendField(b, "config_dir", v.ConfigDir, true)
		b = appendField(b, "started_at", v.StartedAt, true)
		b = appendField(b, "expires_at", v.ExpiresAt, true)
		b = b[:len(b)-2] // the last field's ",\n"
		b = append(b, "\n  }"...)
		if i < rows.n-1 {
			b = append(b, ',')
		}
		bw.Write(append(b, '\n'))
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// appendField appends one "name": value line of a session object.
func appendField(b []byte, name, value string, omitEmpty bool) []byte {
	if omitEmpty && value == "" {
		return b
	}
	b = append(b, "    \""...)
	b = append(b, name...)
	b = append(b, "\": "...)
	b = appendJSONString(b, value)
	return append(b, ",\n"...)
}

// plainJSON marks the bytes encoding/json writes unescaped: printable
// ASCII but for the quote, the backslash and its HTML-safe <, > and &.
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendJSONString quotes s as encoding/json does: strings of plain
// printable ASCII directly, anything else through json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

var sessionHeader = [6]string{"SESSION", "SUBSCRIPTION", "SUBSCRIPTION ID", "INTEGRATION", "STATUS", "EXPIRES"}

func sessionCells(v *SessionView) [6]string {
	return [6]string{v.ID, v.SubscriptionName, v.SubscriptionID, v.Integration, v.Status, expiresCell(*v)}
}

func expiresCell(v SessionView) string {
	if v.ExpiresAt == "" {
		return "-"
	}
	return v.ExpiresAt
}

// plain says whether a table cell holds no control character, which the
// tabwriter would treat as a cell or line break.
func plain(cell string) bool {
	for j := 0; j < len(cell); j++ {
		if cell[j] < 0x20 || cell[j] == 0x7f {
			return false
		}
	}
	return true
}

// writeSessionsTable writes what newTable writes for the session table:
// every column but the last padded to its widest cell (in runes) plus two
// spaces. It writes nothing and returns false when a cell is not plain.
func writeSessionsTable(w io.Writer, rows sessionRows) (bool, error) {
	var width [5]int
	measure := func(cells [6]string) bool {
		for c := range width {
			width[c] = max(width[c], utf8.RuneCountInString(cells[c]))
		}
		for _, cell := range cells {
			if !plain(cell) {
				return false
			}
		}
		return true
	}
	measure(sessionHeader)
	for i := 0; i < rows.n; i++ {
		v := rows.view(i)
		if !measure(sessionCells(&v)) {
			return false, nil
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	row := func(cells [6]string) {
		b := bw.AvailableBuffer()
		for i, cell := range cells {
			b = append(b, cell...)
			if i < 5 {
				for n := width[i] + 2 - utf8.RuneCountInString(cell); n > 0; n-- {
					b = append(b, ' ')
				}
			}
		}
		bw.Write(append(b, '\n'))
	}
	row(sessionHeader)
	for i := 0; i < rows.n; i++ {
		v := rows.view(i)
		row(sessionCells(&v))
	}
	return true, bw.Flush()
}
