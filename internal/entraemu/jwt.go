package entraemu

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"time"
)

// RefreshTokenPrefix starts every refresh token the emulator issues. Real
// Entra refresh tokens start with "0.A"; the extra marker lets a scanner
// (testbed.ScanSecrets) find emulator refresh tokens in any file, outside
// the token cache too.
const RefreshTokenPrefix = "0.AZEMU."

// RefreshTokenPattern matches an emulator refresh token anywhere in text.
var RefreshTokenPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`0\.AZEMU\.[A-Za-z0-9_-]{40,}`) })

// JWTPattern matches a compact JWT (access and id tokens) anywhere in text.
var JWTPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`)
})

// IsRefreshToken reports whether s has the shape of an emulator refresh token.
func IsRefreshToken(s string) bool {
	m := RefreshTokenPattern().FindString(s)
	return m != "" && m == s
}

// Claims are the decoded payload of an access or id token.
type Claims map[string]any

// String returns the string claim name, or "".
func (c Claims) String(name string) string {
	s, _ := c[name].(string)
	return s
}

// Time returns a numeric date claim (exp, iat, nbf).
func (c Claims) Time(name string) time.Time {
	switch v := c[name].(type) {
	case float64:
		return time.Unix(int64(v), 0)
	case json.Number:
		n, _ := v.Int64()
		return time.Unix(n, 0)
	}
	return time.Time{}
}

// ParseClaims decodes a JWT's payload without checking its signature.
func ParseClaims(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("entraemu: not a compact JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, fmt.Errorf("entraemu: JWT payload: %w", err)
	}
	var c Claims
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("entraemu: JWT payload: %w", err)
	}
	return c, nil
}

// jwtSigner signs tokens with an RSA key, as Entra does (RS256). Clients do
// not verify them (MSAL Python checks only aud, exp and nbf of the id token),
// but a real signature keeps any that do honest.
type jwtSigner struct {
	key *rsa.PrivateKey
	kid string
}

func newJWTSigner(ids *idSource) (*jwtSigner, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &jwtSigner{key: key, kid: ids.hex(16)}, nil
}

func (s *jwtSigner) sign(claims map[string]any) (string, error) {
	hdr, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": s.kid})
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signing := b64(hdr) + "." + b64(body)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// randToken returns n random bytes, base64url, from crypto/rand: tokens are
// never deterministic, even with a Seed.
func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b64(b)
}

// fingerprint names a secret in memory maps and logs without keeping it.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:8])
}

// idSource draws ids and passwords: deterministic with a seed (golden
// files), random otherwise.
type idSource struct {
	mu sync.Mutex
	r  *mrand.Rand
}

func newIDSource(seed int64) *idSource {
	s := &idSource{}
	if seed != 0 {
		s.r = mrand.New(mrand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
	}
	return s
}

func (s *idSource) bytes(n int) []byte {
	b := make([]byte, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r == nil {
		_, _ = rand.Read(b)
		return b
	}
	for i := range b {
		b[i] = byte(s.r.UintN(256))
	}
	return b
}

func (s *idSource) uuid() string {
	b := s.bytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (s *idSource) hex(n int) string { return hex.EncodeToString(s.bytes(n)) }

// password returns a password that satisfies Entra's complexity rules.
func (s *idSource) password() string {
	const alpha = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := s.bytes(14)
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = alpha[int(c)%len(alpha)]
	}
	return "Emu-" + string(out) + "9a"
}

// secret returns a client secret shaped like Entra's (40 chars, "~" inside).
func (s *idSource) secret() string {
	const alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."
	b := s.bytes(37)
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = alpha[int(c)%len(alpha)]
	}
	return string(out[:3]) + "8Q~" + string(out[3:])
}

func b64decode(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
