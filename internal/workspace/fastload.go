package workspace

import (
	"errors"
	"os"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	fastjson "github.com/segmentio/encoding/json"
)

// The state file is read by every command (the lazy rotation looks at the
// active sessions first), and with many subscriptions it is mostly the
// session list: about 290 bytes a session, 2.9 MB for 10,000. readFast
// reads the file as azkeep writes it, sessions without reflection and
// their strings as slices of one string holding the file; anything it does
// not expect (another key order is fine; unknown or differently cased
// keys, escapes, nulls, non-string values, invalid UTF-8 are not) sends the
// whole file to the general decoder, which follows encoding/json's rules.
// FuzzDecodeMatchesStdlib holds both to encoding/json's results.

// errNotFast sends a file to the general decoder.
var errNotFast = errors.New("not on the fast path")

// readString reads the file at path into a string that shares the bytes
// os.ReadFile read: nothing keeps or writes to that buffer afterwards, so
// the string is as immutable as one made by copying, without the second
// 2.9 MB copy and the page faults that come with it.
func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return "", err
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// decodeFast decodes a state file written by azkeep; errNotFast when the
// file is anything else (including malformed: the general decoder then
// says what is wrong).
func decodeFast(s string) (*State, error) {
	p := parser{s: s}
	p.ws()
	if !p.eat('{') {
		return nil, errNotFast
	}
	st := &State{}
	var seen [3]bool
	p.ws()
	if p.eat('}') {
		return st, p.end()
	}
	for {
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if !p.eat(':') {
			return nil, errNotFast
		}
		p.ws()
		var k int
		switch key {
		case "schema":
			k = 0
			err = p.smallInt(&st.Schema)
		case "integrations":
			k = 1
			err = p.integrations(&st.Integrations)
		case "sessions":
			k = 2
			err = p.sessions(&st.Sessions)
		default:
			return nil, errNotFast
		}
		if err != nil || seen[k] { // a repeated key: leave it to the rules
			return nil, errNotFast
		}
		seen[k] = true
		p.ws()
		if p.eat('}') {
			return st, p.end()
		}
		if !p.eat(',') {
			return nil, errNotFast
		}
		p.ws()
	}
}

type parser struct {
	s string
	i int
}

func (p *parser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) end() error {
	p.ws()
	if p.i != len(p.s) {
		return errNotFast
	}
	return nil
}

// str reads a string without escapes or control characters, in valid
// UTF-8, and returns it without its quotes.
func (p *parser) str() (string, error) {
	if !p.eat('"') {
		return "", errNotFast
	}
	n := strings.IndexByte(p.s[p.i:], '"')
	if n < 0 {
		return "", errNotFast
	}
	v := p.s[p.i : p.i+n]
	ascii := true
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == '\\' {
			return "", errNotFast
		} else if c >= 0x80 {
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(v) {
		return "", errNotFast
	}
	p.i += n + 1
	return v, nil
}

// smallInt reads a small non-negative integer written without sign,
// fraction or exponent.
func (p *parser) smallInt(n *int) error {
	start, v := p.i, 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' && p.i-start < 9 {
		v = v*10 + int(p.s[p.i]-'0')
		p.i++
	}
	if p.i == start || (p.s[start] == '0' && p.i-start > 1) {
		return errNotFast
	}
	if p.i < len(p.s) {
		switch p.s[p.i] {
		case '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return errNotFast
		}
	}
	*n = v
	return nil
}

// integrations hands the (short) integration list to the general decoder.
func (p *parser) integrations(out *[]Integration) error {
	start := p.i
	if !strings.HasPrefix(p.s[start:], "[") || !p.skipComposite() {
		return errNotFast
	}
	if err := fastjson.Unmarshal([]byte(p.s[start:p.i]), out); err != nil {
		return errNotFast
	}
	return nil
}

// skipComposite moves past the array or object that starts at p.i, by
// its brackets outside strings; the decoder checks the rest.
func (p *parser) skipComposite() bool {
	depth := 0
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				p.i++
				return true
			}
		case '"':
			for p.i++; p.i < len(p.s) && p.s[p.i] != '"'; p.i++ {
				if p.s[p.i] == '\\' {
					p.i++
				}
			}
			if p.i >= len(p.s) {
				return false
			}
		}
		p.i++
	}
	return false
}

// sessions reads the session list: an array of objects whose keys are the
// Session's JSON names spelt exactly and whose values are strings. A long
// list is read in two halves at once (splitAt).
func (p *parser) sessions(out *[]Session) error {
	if !p.eat('[') {
		return errNotFast
	}
	p.ws()
	if p.eat(']') {
		*out = []Session{}
		return nil
	}
	if k := p.splitAt(); k > 0 {
		return p.sessionsInTwo(k, out)
	}
	// Sized once (one brace per session, and a few more when a name
	// holds one: a count in one vectorised pass), and each session parsed
	// in its place: growing and copying a 10,000-session slice was a fifth
	// of the parse.
	list, err := p.objects(make([]Session, 0, strings.Count(p.s[p.i:], "{")), false)
	if err != nil {
		return err
	}
	*out = list
	return nil
}

// splitThreshold is the size of session list worth reading on two cores.
const splitThreshold = 256 << 10

// splitAt finds where a long session list can be cut in two: just after
// the closing brace of a session near its middle, as encoding/json
// indents the state ("\n    },\n    {"; a string cannot hold a raw
// newline, so the pattern is never inside one). 0: no cut.
func (p *parser) splitAt() int {
	rest := len(p.s) - p.i
	if rest < splitThreshold {
		return 0
	}
	const cut = "\n    },\n    {"
	mid := p.i + rest/2
	n := strings.Index(p.s[mid:], cut)
	if n < 0 {
		return 0
	}
	return mid + n + len("\n    }")
}

// sessionsInTwo reads the sessions before k (which must end exactly
// there) and those after it at the same time, into one slice.
func (p *parser) sessionsInTwo(k int, out *[]Session) error {
	first := &parser{s: p.s[:k], i: p.i}
	second := &parser{s: p.s, i: k + 1} // after the comma
	n1 := strings.Count(first.s[first.i:], "{")
	n2 := strings.Count(p.s[k:], "{")
	list := make([]Session, n1+n2)
	var l1 []Session
	var err1 error
	done := make(chan struct{})
	go func() {
		defer close(done)
		l1, err1 = first.objects(list[:0:n1], true)
	}()
	second.ws()
	l2, err2 := second.objects(list[n1:n1:n1+n2], false)
	<-done
	if err1 != nil || err2 != nil {
		return errNotFast
	}
	if len(l1) == n1 && len(l2) == n2 && &l1[0] == &list[0] && &l2[0] == &list[n1] {
		*out = list // the halves filled it exactly, in place
	} else {
		*out = append(l1[:len(l1):len(l1)], l2...)
	}
	p.i = second.i
	return nil
}

// objects reads session objects separated by commas into list: up to and
// including the closing bracket, or, toEnd, up to the end of p.s, which
// must follow a session's closing brace.
func (p *parser) objects(list []Session, toEnd bool) ([]Session, error) {
	for {
		list = append(list, Session{})
		if err := p.session(&list[len(list)-1]); err != nil {
			return nil, err
		}
		p.ws()
		if toEnd && p.i == len(p.s) {
			return list, nil
		}
		if !toEnd && p.eat(']') {
			return list, nil
		}
		if !p.eat(',') {
			return nil, errNotFast
		}
		p.ws()
	}
}

func (p *parser) session(s *Session) error {
	if !p.eat('{') {
		return errNotFast
	}
	p.ws()
	if p.eat('}') {
		return nil
	}
	for {
		key, err := p.str()
		if err != nil {
			return err
		}
		p.ws()
		if !p.eat(':') {
			return errNotFast
		}
		p.ws()
		val, err := p.str()
		if err != nil {
			return err
		}
		switch key {
		case "id":
			s.ID = val
		case "subscription_id":
			s.SubscriptionID = val
		case "subscription_name":
			s.SubscriptionName = val
		case "tenant_id":
			s.TenantID = val
		case "integration_id":
			s.IntegrationID = val
		case "status":
			s.Status = SessionStatus(val)
		case "config_dir":
			s.ConfigDir = val
		case "started_at":
			err = parseTime(&s.StartedAt, val)
		case "expires_at":
			err = parseTime(&s.ExpiresAt, val)
		default:
			return errNotFast
		}
		if err != nil {
			return err
		}
		p.ws()
		if p.eat('}') {
			return nil
		}
		if !p.eat(',') {
			return errNotFast
		}
		p.ws()
	}
}

// parseTime reads a time as encoding/json does (time.Time's UnmarshalJSON).
func parseTime(t *time.Time, v string) error {
	if err := t.UnmarshalJSON([]byte(`"` + v + `"`)); err != nil {
		return errNotFast
	}
	return nil
}
