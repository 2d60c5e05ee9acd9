package testbed

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/azkeep/azkeep/internal/entraemu"
)

// Kinds of secret ScanSecrets reports.
const (
	KindRefreshToken = "refresh_token"
	KindAccessToken  = "access_token"
	KindIDToken      = "id_token"
	// KindClientSecret is a service principal's secret, as az keeps it in
	// service_principal_entries.json ("client_secret").
	KindClientSecret = "client_secret"
)

// Finding is one token found on disk. It never holds the token itself:
// Fingerprint identifies it (compare with Fingerprint(secret)).
type Finding struct {
	// Path is relative to the scanned dir.
	Path string
	// Kind is refresh_token, access_token, id_token or client_secret.
	Kind string
	// Section is the MSAL cache section it was found in (RefreshToken,
	// AccessToken, IdToken) or "" when found by its shape in any file.
	Section string
	// Key is the cache key, when found in a cache section.
	Key string
	// Fingerprint is Fingerprint(token).
	Fingerprint string
}

func (f Finding) String() string {
	where := "by shape"
	if f.Section != "" {
		where = "in cache section " + f.Section
	}
	return f.Kind + " in " + f.Path + " (" + where + ", " + f.Fingerprint + ")"
}

// Fingerprint names a secret without revealing it: the first 16 hex digits
// of its SHA-256.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:8])
}

// ScanSecrets reports every refresh token, access token and id token in the
// regular files under dir (symlinks are not followed): every secret of an
// MSAL cache's RefreshToken, AccessToken and IdToken sections (any JSON file
// holding them, so a real Entra token counts too), every client_secret of a
// service_principal_entries.json-shaped list, and, in any file, text
// or binary (az.sess, msal_http_cache.bin, logs …), anything shaped like an
// emulator refresh token or a JWT. A token is reported once per file.
func ScanSecrets(dir string) []Finding {
	var out []Finding
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		out = append(out, scanFile(rel, data)...)
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

func scanFile(rel string, data []byte) []Finding {
	var out []Finding
	seen := map[string]bool{}
	add := func(f Finding) {
		if seen[f.Fingerprint] {
			return
		}
		seen[f.Fingerprint] = true
		out = append(out, f)
	}
	// An MSAL token cache (plain JSON, possibly behind a BOM).
	trimmed := strings.TrimPrefix(string(data), "\ufeff")
	if strings.HasPrefix(strings.TrimSpace(trimmed), "{") {
		var cache map[string]json.RawMessage
		if json.Unmarshal([]byte(trimmed), &cache) == nil {
			for section, kind := range map[string]string{"RefreshToken": KindRefreshToken, "AccessToken": KindAccessToken, "IdToken": KindIDToken} {
				var entries map[string]struct {
					Secret string `json:"secret"`
				}
				if raw, ok := cache[section]; !ok || json.Unmarshal(raw, &entries) != nil {
					continue
				}
				keys := make([]string, 0, len(entries))
				for k := range entries {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					if s := entries[k].Secret; s != "" {
						add(Finding{Path: rel, Kind: kind, Section: section, Key: k, Fingerprint: Fingerprint(s)})
					}
				}
			}
		}
	}
	// service_principal_entries.json: a JSON list of {"client_secret": …}.
	if strings.HasPrefix(strings.TrimSpace(trimmed), "[") {
		var entries []map[string]any
		if json.Unmarshal([]byte(trimmed), &entries) == nil {
			for _, en := range entries {
				if s, _ := en["client_secret"].(string); s != "" {
					add(Finding{Path: rel, Kind: KindClientSecret, Section: "client_secret", Fingerprint: Fingerprint(s)})
				}
			}
		}
	}
	for _, m := range entraemu.RefreshTokenPattern().FindAll(data, -1) {
		add(Finding{Path: rel, Kind: KindRefreshToken, Fingerprint: Fingerprint(string(m))})
	}
	for _, m := range entraemu.JWTPattern().FindAll(data, -1) {
		add(Finding{Path: rel, Kind: jwtKind(string(m)), Fingerprint: Fingerprint(string(m))})
	}
	return out
}

// jwtKind tells an id token (OIDC v2: aud is the client, preferred_username,
// no scp/roles) from an access token.
func jwtKind(tok string) string {
	c, err := entraemu.ParseClaims(tok)
	if err != nil {
		return KindAccessToken
	}
	if _, ok := c["scp"]; ok {
		return KindAccessToken
	}
	if _, ok := c["roles"]; ok {
		return KindAccessToken
	}
	if c.String("idtyp") != "" || c.String("appid") != "" {
		return KindAccessToken
	}
	if c.String("ver") == "2.0" && c.String("preferred_username") != "" || c.String("nonce") != "" {
		return KindIDToken
	}
	return KindAccessToken
}

// OfKind returns the findings of one kind.
func OfKind(fs []Finding, kind string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

// RefreshTokens returns the refresh-token findings.
func RefreshTokens(fs []Finding) []Finding { return OfKind(fs, KindRefreshToken) }
