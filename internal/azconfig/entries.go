package azconfig

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Credential types: the top-level sections of the token cache.
const (
	CredAccessToken  = "AccessToken"
	CredRefreshToken = "RefreshToken"
	CredIDToken      = "IdToken"
	CredAccount      = "Account"
	CredAppMetadata  = "AppMetadata"
)

// AuthorityMSSTS is the authority_type MSAL writes for Entra ID accounts.
const AuthorityMSSTS = "MSSTS"

// Field is one JSON member azconfig does not interpret, kept as written.
type Field struct {
	Name  string
	Value json.RawMessage
}

// Fields are unknown members of an entry, in file order.
type Fields []Field

// Get returns the raw value of the member named name.
func (f Fields) Get(name string) (json.RawMessage, bool) {
	for _, x := range f {
		if x.Name == name {
			return x.Value, true
		}
	}
	return nil, false
}

// layout remembers how an entry was read so that writing it back keeps the
// member order (and so the bytes) of the file.
type layout struct {
	parsed bool
	order  []string
}

type spec struct {
	name     string
	p        *string
	optional bool // written for a new entry only when non-empty
}

type entry interface {
	specs() []spec
	extras() *Fields
	lay() *layout
}

// AccessToken is an entry of the "AccessToken" section. Times are epoch
// seconds as decimal strings, as MSAL's schema wants them.
type AccessToken struct {
	CredentialType    string // "AccessToken"
	Secret            string
	HomeAccountID     string // "<uid>.<utid>"
	Environment       string // "login.microsoftonline.com"
	ClientID          string
	Target            string // space-separated scopes, as the token answer's "scope"
	Realm             string // tenant id
	TokenType         string // "Bearer"
	CachedAt          string
	ExpiresOn         string
	ExtendedExpiresOn string
	KeyID             string // optional (PoP/SSH certificates)
	RefreshOn         string // optional
	// Extra holds the members azconfig does not know, kept as written.
	Extra  Fields
	layout layout
}

func (e *AccessToken) specs() []spec {
	return []spec{
		{"credential_type", &e.CredentialType, false},
		{"secret", &e.Secret, false},
		{"home_account_id", &e.HomeAccountID, false},
		{"environment", &e.Environment, false},
		{"client_id", &e.ClientID, false},
		{"target", &e.Target, false},
		{"realm", &e.Realm, false},
		{"token_type", &e.TokenType, false},
		{"cached_at", &e.CachedAt, false},
		{"expires_on", &e.ExpiresOn, false},
		{"extended_expires_on", &e.ExtendedExpiresOn, false},
		{"key_id", &e.KeyID, true},
		{"refresh_on", &e.RefreshOn, true},
	}
}
func (e *AccessToken) extras() *Fields { return &e.Extra }
func (e *AccessToken) lay() *layout    { return &e.layout }

// Key is the entry's key in the cache, as MSAL Python builds it.
func (e *AccessToken) Key() string {
	return AccessTokenKey(e.HomeAccountID, e.Environment, e.ClientID, e.Realm, e.Target)
}

// RefreshToken is an entry of the "RefreshToken" section. Refresh tokens
// are cross-tenant: the key has an empty realm.
type RefreshToken struct {
	CredentialType       string // "RefreshToken"
	Secret               string
	HomeAccountID        string
	Environment          string
	ClientID             string
	Target               string
	LastModificationTime string // epoch seconds
	FamilyID             string // optional, "1" when the answer had foci
	Extra                Fields
	layout               layout
}

func (e *RefreshToken) specs() []spec {
	return []spec{
		{"credential_type", &e.CredentialType, false},
		{"secret", &e.Secret, false},
		{"home_account_id", &e.HomeAccountID, false},
		{"environment", &e.Environment, false},
		{"client_id", &e.ClientID, false},
		{"target", &e.Target, false},
		{"last_modification_time", &e.LastModificationTime, false},
		{"family_id", &e.FamilyID, true},
	}
}
func (e *RefreshToken) extras() *Fields { return &e.Extra }
func (e *RefreshToken) lay() *layout    { return &e.layout }

// Key is the entry's key in the cache, as MSAL Python builds it.
func (e *RefreshToken) Key() string {
	return RefreshTokenKey(e.HomeAccountID, e.Environment, e.ClientID, e.Target)
}

// IDToken is an entry of the "IdToken" section.
type IDToken struct {
	CredentialType string // "IdToken"
	Secret         string
	HomeAccountID  string
	Environment    string
	Realm          string
	ClientID       string
	Extra          Fields
	layout         layout
}

func (e *IDToken) specs() []spec {
	return []spec{
		{"credential_type", &e.CredentialType, false},
		{"secret", &e.Secret, false},
		{"home_account_id", &e.HomeAccountID, false},
		{"environment", &e.Environment, false},
		{"realm", &e.Realm, false},
		{"client_id", &e.ClientID, false},
	}
}
func (e *IDToken) extras() *Fields { return &e.Extra }
func (e *IDToken) lay() *layout    { return &e.layout }

// Key is the entry's key in the cache, as MSAL Python builds it.
func (e *IDToken) Key() string {
	return IDTokenKey(e.HomeAccountID, e.Environment, e.ClientID, e.Realm)
}

// Account is an entry of the "Account" section; az needs it to find any token.
type Account struct {
	HomeAccountID  string
	Environment    string
	Realm          string
	LocalAccountID string // the user's object id
	Username       string // preferred_username
	AuthorityType  string // "MSSTS"
	Extra          Fields
	layout         layout
}

func (e *Account) specs() []spec {
	return []spec{
		{"home_account_id", &e.HomeAccountID, false},
		{"environment", &e.Environment, false},
		{"realm", &e.Realm, false},
		{"local_account_id", &e.LocalAccountID, false},
		{"username", &e.Username, false},
		{"authority_type", &e.AuthorityType, false},
	}
}
func (e *Account) extras() *Fields { return &e.Extra }
func (e *Account) lay() *layout    { return &e.layout }

// Key is the entry's key in the cache, as MSAL Python builds it.
func (e *Account) Key() string { return AccountKey(e.HomeAccountID, e.Environment, e.Realm) }

// AppMetadata is an entry of the "AppMetadata" section.
type AppMetadata struct {
	ClientID    string
	Environment string
	FamilyID    string // optional
	Extra       Fields
	layout      layout
}

func (e *AppMetadata) specs() []spec {
	return []spec{
		{"client_id", &e.ClientID, false},
		{"environment", &e.Environment, false},
		{"family_id", &e.FamilyID, true},
	}
}
func (e *AppMetadata) extras() *Fields { return &e.Extra }
func (e *AppMetadata) lay() *layout    { return &e.layout }

// Key is the entry's key in the cache, as MSAL Python builds it.
func (e *AppMetadata) Key() string { return AppMetadataKey(e.Environment, e.ClientID) }

// AccessTokenKey builds an access token's key as MSAL Python does:
// "<home>-<env>-accesstoken-<client>-<realm>-<target>", lower-cased as a whole.
func AccessTokenKey(homeAccountID, environment, clientID, realm, target string) string {
	return strings.ToLower(strings.Join([]string{homeAccountID, environment, CredAccessToken, clientID, realm, target}, "-"))
}

// RefreshTokenKey builds a refresh token's key as MSAL Python does:
// "<home>-<env>-refreshtoken-<client>--<target>" (refresh tokens have no realm).
func RefreshTokenKey(homeAccountID, environment, clientID, target string) string {
	return strings.ToLower(strings.Join([]string{homeAccountID, environment, CredRefreshToken, clientID, "", target}, "-"))
}

// IDTokenKey builds an id token's key as MSAL Python does:
// "<home>-<env>-idtoken-<client>-<realm>-" (the schema wants an empty target).
func IDTokenKey(homeAccountID, environment, clientID, realm string) string {
	return strings.ToLower(strings.Join([]string{homeAccountID, environment, CredIDToken, clientID, realm, ""}, "-"))
}

// AccountKey builds an account's key as MSAL Python does: "<home>-<env>-<realm>".
func AccountKey(homeAccountID, environment, realm string) string {
	return strings.ToLower(strings.Join([]string{homeAccountID, environment, realm}, "-"))
}

// AppMetadataKey builds an app metadata key as MSAL Python does:
// "appmetadata-<env>-<client>". MSAL Python does not lower-case this one.
func AppMetadataKey(environment, clientID string) string {
	return "appmetadata-" + environment + "-" + clientID
}

// decodeEntry fills e from the object n. Known members holding a string
// go to their typed field; everything else (unknown names, or a known name
// holding null or a number) is kept in Extra.
func decodeEntry(n *jnode, e entry) error {
	if n.kind != jObject {
		return fmt.Errorf("entry is not a JSON object")
	}
	specs := e.specs()
	l := e.lay()
	l.parsed = true
	l.order = append([]string(nil), n.keys...)
	ex := e.extras()
	for i, k := range n.keys {
		v := n.vals[i]
		known := false
		if v.kind == jString {
			for _, s := range specs {
				if s.name == k {
					*s.p = v.s
					known = true
					break
				}
			}
		}
		if !known {
			*ex = append(*ex, Field{Name: k, Value: compact(v)})
		}
	}
	return nil
}

// encodeEntry turns e back into an ordered object: members in the order
// they were read, then known members not read (all required ones for a new
// entry, optional ones when set), then new Extra members.
func encodeEntry(e entry) (*jnode, error) {
	specs := e.specs()
	l := e.lay()
	extra := *e.extras()
	out := newObject()
	done := map[string]bool{}
	findSpec := func(name string) *spec {
		for i := range specs {
			if specs[i].name == name {
				return &specs[i]
			}
		}
		return nil
	}
	extraNode := func(name string) (*jnode, bool, error) {
		raw, ok := extra.Get(name)
		if !ok {
			return nil, false, nil
		}
		n, err := parseJSON(raw)
		if err != nil {
			return nil, true, fmt.Errorf("field %q: %w", name, err)
		}
		return n, true, nil
	}
	for _, name := range l.order {
		if done[name] {
			continue
		}
		s := findSpec(name)
		if s != nil && *s.p != "" {
			out.set(name, jstr(*s.p))
			done[name] = true
			continue
		}
		n, ok, err := extraNode(name)
		if err != nil {
			return nil, err
		}
		switch {
		case ok:
			out.set(name, n)
		case s != nil:
			out.set(name, jstr(""))
		default:
			continue // an unknown member the caller removed
		}
		done[name] = true
	}
	for _, s := range specs {
		if done[s.name] {
			continue
		}
		if *s.p != "" || (!l.parsed && !s.optional) {
			out.set(s.name, jstr(*s.p))
			done[s.name] = true
		}
	}
	for _, f := range extra {
		if done[f.Name] {
			continue
		}
		n, _, err := extraNode(f.Name)
		if err != nil {
			return nil, err
		}
		out.set(f.Name, n)
		done[f.Name] = true
	}
	return out, nil
}
