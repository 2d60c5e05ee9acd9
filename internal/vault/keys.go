package vault

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxKeyLen bounds a key so that it fits every backend's item name (wincred
// target names, pass file paths) with room for the service prefix.
const maxKeyLen = 200

// checkKey accepts the keys azkeep uses, "<integration-id>/<item>", and any
// other clean relative path of non-empty segments. The same rule holds on
// every backend so that a migration never meets a key its target refuses.
func checkKey(key string) error {
	bad := func(why string) error { return mark(ErrInvalidKey, "invalid key %q: %s", key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > maxKeyLen:
		return bad(fmt.Sprintf("longer than %d bytes", maxKeyLen))
	case !utf8.ValidString(key):
		return bad("not UTF-8")
	}
	for _, r := range key {
		if unicode.IsControl(r) || r == '\\' || r == ':' {
			return bad("control character, backslash or colon")
		}
	}
	for _, seg := range strings.Split(key, "/") {
		switch {
		case seg == "":
			return bad("empty path segment")
		case seg == "." || seg == "..":
			return bad("'.' or '..' segment")
		case strings.HasPrefix(seg, "-"):
			return bad("segment starts with '-'")
		case strings.HasPrefix(seg, "."):
			return bad("segment starts with '.'")
		case strings.HasSuffix(seg, ".gpg"), strings.HasSuffix(seg, ".age"):
			return bad("segment ends in .gpg or .age")
		}
	}
	return nil
}
