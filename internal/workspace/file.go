package workspace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The state file, schema 2:
//
//	{
//	  "schema": 2,
//	  "integrations": [
//	    { "id": "9a1e…", "alias": "contoso", … }
//	  ],
//	  "session_columns": ["id", "subscription_id", "subscription_name", "status", "config_dir", "started_at", "expires_at"],
//	  "session_groups": [
//	    {"integration_id": "9a1e…", "tenant_id": "72f9…", "sessions": [
//	      ["3f2a…", "0b1c…", "Dev", "inactive"],
//	      ["7c4d…", "5d6e…", "Prod", "active", "/home/ada/.azure", "2026-11-29T07:00:00Z", "2026-11-29T08:00:00Z"]
//	    ]}
//	  ]
//	}
//
// Integrations are few and keep their objects. Sessions are many (one per
// subscription: thousands for some users), every command reads them all
// (lazy rotation looks for the active ones) and `session list` shows them
// all, so the file keeps them in the form encoding/json reads fastest,
// since its decode time follows the bytes and the values it reads: each
// session is a row of strings in the order of session_columns, one line,
// without key names and without its trailing empty fields; consecutive
// sessions of one integration and tenant (as a sync adds them) share a
// group that names the two once. Groups and rows keep the sessions'
// order.
//
// Schema 1 kept sessions as objects under "sessions". Such a file still
// reads (its keys differ from schema 2's, so one decode serves both) and
// the next write upgrades it.

// sessionColumns names the fields of a session row, in order.
var sessionColumns = []string{"id", "subscription_id", "subscription_name", "status", "config_dir", "started_at", "expires_at"}

// sessionRow is a session as the file keeps it. A row read from the file
// may be shorter (trailing empty fields left out): encoding/json fills a
// Go array from a shorter JSON array and zeroes the rest.
type sessionRow [7]string

// sessionGroup is a run of sessions with one integration and tenant. Its
// rows are pointers so that a growing list moves pointers, not rows: the
// decode then allocates each row once, which keeps a large state's read
// clear of most of the garbage collector's work.
type sessionGroup struct {
	IntegrationID string        `json:"integration_id"`
	TenantID      string        `json:"tenant_id"`
	Sessions      []*sessionRow `json:"sessions"`
}

// stateFile is the file's shape, of either schema.
type stateFile struct {
	Schema         int            `json:"schema"`
	Integrations   []Integration  `json:"integrations"`
	SessionColumns []string       `json:"session_columns"`
	SessionGroups  []sessionGroup `json:"session_groups"`
	// Sessions is schema 1's list.
	Sessions []Session `json:"sessions"`
}

// encodeState writes st as schema 2: the integrations indented as
// json.MarshalIndent writes them, each session row on a line of its own.
func encodeState(st *State) ([]byte, error) {
	integrations, err := json.MarshalIndent(st.Integrations, "  ", "  ")
	if err != nil {
		return nil, err
	}
	columns, err := json.Marshal(sessionColumns)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"schema\": %d,\n  \"integrations\": %s,\n  \"session_columns\": %s,\n  \"session_groups\": [", SchemaVersion, integrations, columns)
	for i, s := range st.Sessions {
		if i == 0 || s.IntegrationID != st.Sessions[i-1].IntegrationID || s.TenantID != st.Sessions[i-1].TenantID {
			if i > 0 {
				b.WriteString("\n    ]},")
			}
			in, _ := json.Marshal(s.IntegrationID) // a string always marshals
			tenant, _ := json.Marshal(s.TenantID)
			fmt.Fprintf(&b, "\n    {\"integration_id\": %s, \"tenant_id\": %s, \"sessions\": [", in, tenant)
		} else {
			b.WriteByte(',')
		}
		row, err := s.row()
		if err != nil {
			return nil, err
		}
		line, err := json.Marshal(row)
		if err != nil {
			return nil, err
		}
		b.WriteString("\n      ")
		b.Write(line)
	}
	if len(st.Sessions) > 0 {
		b.WriteString("\n    ]}\n  ")
	}
	b.WriteString("]\n}\n")
	return b.Bytes(), nil
}

// decodeState reads a state file of either schema. Schema checks are the
// caller's.
func decodeState(data []byte) (*State, error) {
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	st := &State{Schema: f.Schema, Integrations: f.Integrations, Sessions: f.Sessions}
	if f.Schema != 2 { // schema 1, or one the caller refuses
		return st, nil
	}
	if !slices.Equal(f.SessionColumns, sessionColumns) {
		return nil, fmt.Errorf("session_columns %q, want %q", f.SessionColumns, sessionColumns)
	}
	n := 0
	for _, g := range f.SessionGroups {
		n += len(g.Sessions)
	}
	st.Sessions = make([]Session, 0, n)
	for _, g := range f.SessionGroups {
		for i := range g.Sessions {
			s, err := sessionOf(g.IntegrationID, g.TenantID, g.Sessions[i])
			if err != nil {
				return nil, fmt.Errorf("session %d: %w", len(st.Sessions)+1, err)
			}
			st.Sessions = append(st.Sessions, s)
		}
	}
	return st, nil
}

// row is s as a row of session_columns, without its trailing empty fields.
func (s *Session) row() ([]string, error) {
	started, err := timeText(s.StartedAt)
	if err != nil {
		return nil, err
	}
	expires, err := timeText(s.ExpiresAt)
	if err != nil {
		return nil, err
	}
	r := []string{s.ID, s.SubscriptionID, s.SubscriptionName, string(s.Status), s.ConfigDir, started, expires}
	for len(r) > 0 && r[len(r)-1] == "" {
		r = r[:len(r)-1]
	}
	return r, nil
}

// sessionOf is the session a row of a group holds.
func sessionOf(integrationID, tenantID string, r *sessionRow) (Session, error) {
	if r == nil {
		return Session{}, errors.New("null row")
	}
	s := Session{ID: r[0], SubscriptionID: r[1], SubscriptionName: r[2], TenantID: tenantID, IntegrationID: integrationID,
		Status: SessionStatus(r[3]), ConfigDir: r[4]}
	if err := parseTimeText(&s.StartedAt, r[5]); err != nil {
		return Session{}, err
	}
	return s, parseTimeText(&s.ExpiresAt, r[6])
}

// timeText is t as encoding/json writes a time (RFC 3339 with
// nanoseconds), or "" for the zero time.
func timeText(t time.Time) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	b, err := t.MarshalText()
	return string(b), err
}

func parseTimeText(t *time.Time, s string) error {
	if s == "" {
		return nil
	}
	return t.UnmarshalText([]byte(s))
}
