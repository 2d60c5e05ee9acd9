package azcli

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`azure-cli\S*\s+(\d+\.\d+\.\d+)`) })
var anyVersionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\b(\d+\.\d+\.\d+)\b`) })

// parseVersion reads az's version from `az version --output json`
// ({"azure-cli": "2.45.0", …}), or from `az --version` text.
func parseVersion(out []byte) (string, error) {
	var v map[string]any
	if err := json.Unmarshal(out, &v); err == nil {
		if s, ok := v["azure-cli"].(string); ok && validVersion(s) {
			return s, nil
		}
		return "", errors.New(`no "azure-cli" version in az's answer`)
	}
	if m := versionRE().FindSubmatch(out); m != nil {
		return string(m[1]), nil
	}
	if m := anyVersionRE().FindSubmatch(out); m != nil && len(strings.TrimSpace(string(out))) < 40 {
		return string(m[1]), nil
	}
	return "", errors.New("no version number in az's answer")
}

func validVersion(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts[:2] {
		if _, err := strconv.Atoi(p); err != nil {
			return false
		}
	}
	return true
}

// compareVersions compares dotted versions numerically ("2.9" < "2.30");
// a non-numeric part (a pre-release suffix) counts as its leading digits.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		x, y := num(pa, i), num(pb, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func num(p []string, i int) int {
	if i >= len(p) {
		return 0
	}
	s := p[i]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, _ := strconv.Atoi(s[:j])
	return n
}
