package azconfig

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Seconds is a duration or epoch in seconds that a token endpoint may send
// as a JSON number or, like the AAD v1 endpoint, as a string. Zero means
// absent.
type Seconds int64

// UnmarshalJSON accepts 3599, "3599" and null.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	str := strings.TrimSpace(string(b))
	if str == "null" {
		*s = 0
		return nil
	}
	if strings.HasPrefix(str, `"`) {
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
	}
	f, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return fmt.Errorf("not a number of seconds: %q", str)
	}
	*s = Seconds(f)
	return nil
}

// TokenResponse is the JSON answer of an OAuth 2.0 token endpoint, with the
// Entra ID extensions MSAL reads. Never log it: it holds tokens.
type TokenResponse struct {
	TokenType    string  `json:"token_type,omitempty"`
	Scope        string  `json:"scope,omitempty"`
	ExpiresIn    Seconds `json:"expires_in,omitempty"`
	ExtExpiresIn Seconds `json:"ext_expires_in,omitempty"`
	ExpiresOn    Seconds `json:"expires_on,omitempty"`
	RefreshIn    Seconds `json:"refresh_in,omitempty"`
	AccessToken  string  `json:"access_token,omitempty"`
	RefreshToken string  `json:"refresh_token,omitempty"`
	IDToken      string  `json:"id_token,omitempty"`
	ClientInfo   string  `json:"client_info,omitempty"`
	Foci         string  `json:"foci,omitempty"`

	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// TokenEvent is one successful token answer and the request it answered:
// what MSAL Python's TokenCache.add receives.
type TokenEvent struct {
	ClientID    string // the Azure CLI's: azure.AzureCLIClientID
	Environment string // authority host without scheme: "login.microsoftonline.com"
	Realm       string // the tenant segment of the token endpoint
	// Scopes are the requested scopes; the cache uses them as target only
	// when the answer has no "scope".
	Scopes   []string
	Response TokenResponse
	// Now is the time the answer was received; zero means time.Now().
	Now time.Time
	// Username is the fallback account name (password grant) when the id
	// token has neither preferred_username nor upn.
	Username string
	// SkipAccount leaves the Account entry out, as MSAL does on a
	// refresh-token grant (skip_account_creation).
	SkipAccount bool
}

// Entries are the cache entries built from one TokenEvent; nil when the
// answer did not produce that kind.
type Entries struct {
	AccessToken  *AccessToken
	Account      *Account
	IDToken      *IDToken
	RefreshToken *RefreshToken
	AppMetadata  *AppMetadata
	// HomeAccountID is "<uid>.<utid>" from client_info.
	HomeAccountID string
}

// NewEntries builds the entries MSAL Python 1.21 (az 2.45) writes for ev:
// times as epoch-second strings, target = the answer's scope (split on
// white space and joined by one space), home_account_id from client_info.
func NewEntries(ev TokenEvent) (Entries, error) {
	r := ev.Response
	if r.Error != "" {
		return Entries{}, fmt.Errorf("token answer is an error: %s", r.Error)
	}
	now := ev.Now
	if now.IsZero() {
		now = time.Now()
	}
	sec := now.Unix()
	claims := map[string]any{}
	if r.IDToken != "" {
		var err error
		if claims, err = IDTokenClaims(r.IDToken); err != nil {
			return Entries{}, err
		}
	}
	home, hasClientInfo, err := homeAccountID(r.ClientInfo, claims)
	if err != nil {
		return Entries{}, err
	}
	target := strings.Join(strings.Fields(r.Scope), " ")
	if r.Scope == "" {
		target = strings.Join(ev.Scopes, " ")
	}
	e := Entries{HomeAccountID: home}
	if r.AccessToken != "" {
		expiresIn := int64(600)
		if r.ExpiresOn != 0 {
			expiresIn = int64(r.ExpiresOn) - sec
		}
		if r.ExpiresIn != 0 {
			expiresIn = int64(r.ExpiresIn)
		}
		ext := expiresIn
		if r.ExtExpiresIn != 0 {
			ext = int64(r.ExtExpiresIn)
		}
		tt := r.TokenType
		if tt == "" {
			tt = "Bearer"
		}
		e.AccessToken = &AccessToken{
			CredentialType:    CredAccessToken,
			Secret:            r.AccessToken,
			HomeAccountID:     home,
			Environment:       ev.Environment,
			ClientID:          ev.ClientID,
			Target:            target,
			Realm:             ev.Realm,
			TokenType:         tt,
			CachedAt:          epoch(sec),
			ExpiresOn:         epoch(sec + expiresIn),
			ExtendedExpiresOn: epoch(sec + ext),
		}
		if r.RefreshIn != 0 {
			e.AccessToken.RefreshOn = epoch(sec + int64(r.RefreshIn))
		}
	}
	if hasClientInfo && !ev.SkipAccount {
		local, _ := claims["oid"].(string)
		if local == "" {
			local, _ = claims["sub"].(string)
		}
		user, _ := claims["preferred_username"].(string)
		if user == "" {
			user, _ = claims["upn"].(string)
		}
		if user == "" {
			user = ev.Username
		}
		at := AuthorityMSSTS
		if ev.Realm == "adfs" {
			at = "ADFS"
		}
		e.Account = &Account{
			HomeAccountID:  home,
			Environment:    ev.Environment,
			Realm:          ev.Realm,
			LocalAccountID: local,
			Username:       user,
			AuthorityType:  at,
		}
	}
	if r.IDToken != "" {
		e.IDToken = &IDToken{
			CredentialType: CredIDToken,
			Secret:         r.IDToken,
			HomeAccountID:  home,
			Environment:    ev.Environment,
			Realm:          ev.Realm,
			ClientID:       ev.ClientID,
		}
	}
	if r.RefreshToken != "" {
		e.RefreshToken = &RefreshToken{
			CredentialType:       CredRefreshToken,
			Secret:               r.RefreshToken,
			HomeAccountID:        home,
			Environment:          ev.Environment,
			ClientID:             ev.ClientID,
			Target:               target,
			LastModificationTime: epoch(sec),
			FamilyID:             r.Foci,
		}
	}
	e.AppMetadata = &AppMetadata{ClientID: ev.ClientID, Environment: ev.Environment, FamilyID: r.Foci}
	return e, nil
}

// Add records a token answer as MSAL Python's TokenCache.add does, in its
// order: access token, account, id token, refresh token, app metadata.
// Each new entry replaces the whole entry under its key.
func (c *TokenCache) Add(ev TokenEvent) (Entries, error) {
	e, err := NewEntries(ev)
	if err != nil {
		return Entries{}, err
	}
	if e.AccessToken != nil {
		c.AccessTokens.Put(e.AccessToken.Key(), e.AccessToken)
	}
	if e.Account != nil {
		c.Accounts.Put(e.Account.Key(), e.Account)
	}
	if e.IDToken != nil {
		c.IDTokens.Put(e.IDToken.Key(), e.IDToken)
	}
	if e.RefreshToken != nil {
		c.RefreshTokens.Put(e.RefreshToken.Key(), e.RefreshToken)
	}
	c.AppMetadata.Put(e.AppMetadata.Key(), e.AppMetadata)
	return e, nil
}

// AddRefreshAnswer records the answer to a refresh-token grant made with
// the refresh token stored under rtKey, as az 2.45 does in
// acquire_token_silent: the access token, id token and app metadata are
// added (no account entry), and the refresh token entry that was used is
// updated in place with the new secret and last_modification_time (its key,
// target and other fields stay). Without a new refresh token in the answer
// the entry is left alone.
func (c *TokenCache) AddRefreshAnswer(rtKey string, ev TokenEvent) (Entries, error) {
	newRT := ev.Response.RefreshToken
	ev.Response.RefreshToken = ""
	ev.SkipAccount = true
	e, err := c.Add(ev)
	if err != nil {
		return Entries{}, err
	}
	if newRT != "" {
		rt, ok := c.RefreshTokens.Get(rtKey)
		if !ok {
			return Entries{}, fmt.Errorf("token cache: no refresh token under %q", rtKey)
		}
		now := ev.Now
		if now.IsZero() {
			now = time.Now()
		}
		rt.Secret = newRT
		rt.LastModificationTime = epoch(now.Unix())
		e.RefreshToken = rt
	}
	return e, nil
}

func epoch(s int64) string { return strconv.FormatInt(s, 10) }

// ParseEpoch reads an epoch-seconds string of the cache (expires_on, …).
func ParseEpoch(s string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if ferr != nil {
			return time.Time{}, fmt.Errorf("not an epoch-seconds time: %q", s)
		}
		n = int64(f)
	}
	return time.Unix(n, 0), nil
}

// ExpiresAt is the access token's expires_on as a time.
func (e *AccessToken) ExpiresAt() (time.Time, error) { return ParseEpoch(e.ExpiresOn) }

// IDTokenClaims decodes the payload of a JWT without verifying it, as
// MSAL Python reads id tokens.
func IDTokenClaims(jwt string) (map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) < 2 {
		return nil, errors.New("id token is not a JWT")
	}
	raw, err := decodePart(parts[1])
	if err != nil {
		return nil, fmt.Errorf("id token payload: %w", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, fmt.Errorf("id token payload: %w", err)
	}
	return claims, nil
}

func decodePart(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// homeAccountID derives "<uid>.<utid>" from client_info as MSAL does,
// falling back to the id token's sub (ADFS).
func homeAccountID(clientInfo string, claims map[string]any) (string, bool, error) {
	if clientInfo != "" {
		raw, err := decodePart(clientInfo)
		if err != nil {
			return "", false, fmt.Errorf("client_info: %w", err)
		}
		var ci map[string]any
		if err := json.Unmarshal(raw, &ci); err != nil {
			return "", false, fmt.Errorf("client_info: %w", err)
		}
		uid, ok1 := ci["uid"].(string)
		utid, ok2 := ci["utid"].(string)
		if ok1 && ok2 {
			return uid + "." + utid, true, nil
		}
	}
	if sub, ok := claims["sub"].(string); ok && len(claims) > 0 {
		return sub, true, nil
	}
	return "", false, nil
}
