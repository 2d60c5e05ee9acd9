package azconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// The Azure CLI writes its files with Python's json module: json.dumps with
// indent=4 for the token cache, json.dump without indent for the profile.
// Both keep the key order of the dicts they were given (the order the file
// was read in, new keys appended) and escape every non-ASCII character
// (ensure_ascii=True). Go's encoding/json does neither, so the files are
// read into an ordered tree and written back by a small encoder that
// reproduces Python's output byte for byte.

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

// jnode is one JSON value with object members kept in file order.
type jnode struct {
	kind jkind
	s    string // string value, number literal, "true"/"false"
	arr  []*jnode
	keys []string
	vals []*jnode
}

func jstr(s string) *jnode { return &jnode{kind: jString, s: s} }

func newObject() *jnode { return &jnode{kind: jObject} }

// get returns the member named key, or nil.
func (n *jnode) get(key string) *jnode {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// set replaces the member named key in place, or appends it (Python dict
// semantics: an existing key keeps its position).
func (n *jnode) set(key string, v *jnode) {
	for i, k := range n.keys {
		if k == key {
			n.vals[i] = v
			return
		}
	}
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, v)
}

var errTrailing = errors.New("unexpected data after the JSON value")

// parseJSON reads exactly one JSON value from data. Invalid UTF-8 is an
// error, as it is for Python's json.load on a UTF-8 file.
func parseJSON(data []byte) (*jnode, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailing
	}
	return n, nil
}

// maxDepth bounds nesting: the Azure CLI's files are 4 levels deep, and an
// indented rewrite of deeply nested input grows quadratically.
const maxDepth = 64

var errTooDeep = errors.New("JSON nested too deeply")

func parseValue(dec *json.Decoder, depth int) (*jnode, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return parseFrom(dec, tok, depth)
}

func parseFrom(dec *json.Decoder, tok json.Token, depth int) (*jnode, error) {
	switch t := tok.(type) {
	case nil:
		return &jnode{kind: jNull}, nil
	case bool:
		return &jnode{kind: jBool, s: strconv.FormatBool(t)}, nil
	case json.Number:
		return &jnode{kind: jNumber, s: string(t)}, nil
	case string:
		return jstr(t), nil
	case json.Delim:
		switch t {
		case '[':
			n := &jnode{kind: jArray}
			for dec.More() {
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.arr = append(n.arr, v)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, err
			}
			return n, nil
		case '{':
			n := newObject()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is %T", kt)
				}
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				// Python keeps the last value of a duplicated key at the
				// position of the first.
				n.set(k, v)
			}
			if _, err := dec.Token(); err != nil { // '}'
				return nil, err
			}
			return n, nil
		}
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// encodePy writes n as Python's json.dumps does: with indent > 0 as
// json.dumps(indent=indent) (separators "," and ": "), with indent == 0 as
// json.dumps() (separators ", " and ": "), ensure_ascii in both cases.
func encodePy(b *bytes.Buffer, n *jnode, indent, level int) {
	switch n.kind {
	case jNull:
		b.WriteString("null")
	case jBool, jNumber:
		b.WriteString(n.s)
	case jString:
		pyQuote(b, n.s)
	case jArray:
		if len(n.arr) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, v := range n.arr {
			sep(b, i, indent, level+1)
			encodePy(b, v, indent, level+1)
		}
		closing(b, indent, level)
		b.WriteByte(']')
	case jObject:
		if len(n.keys) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, k := range n.keys {
			sep(b, i, indent, level+1)
			pyQuote(b, k)
			b.WriteString(": ")
			encodePy(b, n.vals[i], indent, level+1)
		}
		closing(b, indent, level)
		b.WriteByte('}')
	}
}

func sep(b *bytes.Buffer, i, indent, level int) {
	if indent > 0 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
		for j := 0; j < indent*level; j++ {
			b.WriteByte(' ')
		}
		return
	}
	if i > 0 {
		b.WriteString(", ")
	}
}

func closing(b *bytes.Buffer, indent, level int) {
	if indent > 0 {
		b.WriteByte('\n')
		for j := 0; j < indent*level; j++ {
			b.WriteByte(' ')
		}
	}
}

const hexDigits = "0123456789abcdef"

// pyQuote writes s as Python's json module does with ensure_ascii=True.
func pyQuote(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r <= 0x7e:
			b.WriteByte(byte(r))
		case r < 0x10000:
			u4(b, r)
		default:
			r -= 0x10000
			u4(b, 0xd800|(r>>10)&0x3ff)
			u4(b, 0xdc00|r&0x3ff)
		}
	}
	b.WriteByte('"')
}

func u4(b *bytes.Buffer, r rune) {
	b.WriteString(`\u`)
	b.WriteByte(hexDigits[r>>12&0xf])
	b.WriteByte(hexDigits[r>>8&0xf])
	b.WriteByte(hexDigits[r>>4&0xf])
	b.WriteByte(hexDigits[r&0xf])
}

// compact renders n as compact JSON (for Field.Value).
func compact(n *jnode) json.RawMessage {
	var b bytes.Buffer
	encodeCompact(&b, n)
	return b.Bytes()
}

func encodeCompact(b *bytes.Buffer, n *jnode) {
	switch n.kind {
	case jArray:
		b.WriteByte('[')
		for i, v := range n.arr {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeCompact(b, v)
		}
		b.WriteByte(']')
	case jObject:
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			pyQuote(b, k)
			b.WriteByte(':')
			encodeCompact(b, n.vals[i])
		}
		b.WriteByte('}')
	default:
		encodePy(b, n, 0, 0)
	}
}
