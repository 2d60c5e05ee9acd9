package azconfig

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// Section is one credential type's entries keyed as MSAL keys them, in
// file order; a new key is appended, a replaced key keeps its place (as a
// Python dict does).
type Section[T any] struct {
	keys []string
	m    map[string]*T
}

// Len is the number of entries.
func (s *Section[T]) Len() int { return len(s.keys) }

// Keys returns the keys in file order.
func (s *Section[T]) Keys() []string { return slices.Clone(s.keys) }

// Get returns the entry stored under key.
func (s *Section[T]) Get(key string) (*T, bool) {
	v, ok := s.m[key]
	return v, ok
}

// Put stores v under key.
func (s *Section[T]) Put(key string, v *T) {
	if s.m == nil {
		s.m = map[string]*T{}
	}
	if _, ok := s.m[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.m[key] = v
}

// Delete removes key and reports whether it was there.
func (s *Section[T]) Delete(key string) bool {
	if _, ok := s.m[key]; !ok {
		return false
	}
	delete(s.m, key)
	s.keys = slices.DeleteFunc(s.keys, func(k string) bool { return k == key })
	return true
}

// All iterates over the entries in file order.
func (s *Section[T]) All() iter.Seq2[string, *T] {
	return func(yield func(string, *T) bool) {
		for _, k := range slices.Clone(s.keys) {
			if v, ok := s.m[k]; ok && !yield(k, v) {
				return
			}
		}
	}
}

// DeleteFunc removes every entry for which del returns true and returns
// how many it removed.
func (s *Section[T]) DeleteFunc(del func(key string, v *T) bool) int {
	n := 0
	for k, v := range s.All() {
		if del(k, v) {
			s.Delete(k)
			n++
		}
	}
	return n
}

// Clear removes every entry.
func (s *Section[T]) Clear() int {
	return s.DeleteFunc(func(string, *T) bool { return true })
}

// TokenCache is the content of msal_token_cache.json.
type TokenCache struct {
	AccessTokens  Section[AccessToken]
	RefreshTokens Section[RefreshToken]
	IDTokens      Section[IDToken]
	Accounts      Section[Account]
	AppMetadata   Section[AppMetadata]

	order []string          // top-level member names as read
	other map[string]*jnode // top-level members azconfig does not know
}

// newSectionOrder is the order in which MSAL Python creates the sections
// in an empty cache (TokenCache.add: AT, Account, IdToken, RT, AppMetadata).
var newSectionOrder = []string{CredAccessToken, CredAccount, CredIDToken, CredRefreshToken, CredAppMetadata}

// ParseTokenCache reads the content of msal_token_cache.json. Empty
// content (or only white space) is an empty cache; a UTF-8 BOM is skipped.
// Anything that is not a JSON object of sections of objects is an error.
func ParseTokenCache(data []byte) (*TokenCache, error) {
	data = bytes.TrimPrefix(data, bom)
	c := &TokenCache{}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	root, err := parseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	if root.kind != jObject {
		return nil, errors.New("token cache: not a JSON object")
	}
	c.order = slices.Clone(root.keys)
	for i, name := range root.keys {
		sec := root.vals[i]
		var err error
		switch name {
		case CredAccessToken:
			err = decodeSection(sec, &c.AccessTokens)
		case CredRefreshToken:
			err = decodeSection(sec, &c.RefreshTokens)
		case CredIDToken:
			err = decodeSection(sec, &c.IDTokens)
		case CredAccount:
			err = decodeSection(sec, &c.Accounts)
		case CredAppMetadata:
			err = decodeSection(sec, &c.AppMetadata)
		default:
			if c.other == nil {
				c.other = map[string]*jnode{}
			}
			c.other[name] = sec
		}
		if err != nil {
			return nil, fmt.Errorf("token cache section %s: %w", name, err)
		}
	}
	return c, nil
}

func decodeSection[T any, P interface {
	*T
	entry
}](n *jnode, s *Section[T]) error {
	if n.kind == jNull {
		return nil
	}
	if n.kind != jObject {
		return errors.New("not a JSON object")
	}
	for i, k := range n.keys {
		var v T
		if err := decodeEntry(n.vals[i], P(&v)); err != nil {
			return fmt.Errorf("entry %q: %w", k, err)
		}
		s.Put(k, &v)
	}
	return nil
}

func encodeSection[T any, P interface {
	*T
	entry
}](s *Section[T]) (*jnode, error) {
	out := newObject()
	for k, v := range s.All() {
		n, err := encodeEntry(P(v))
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", k, err)
		}
		out.set(k, n)
	}
	return out, nil
}

// Marshal returns the file content as az writes it: Python's
// json.dumps(cache, indent=4), no BOM, no trailing newline. Sections read
// from the file are written back even when empty; new sections only when
// they hold entries.
func (c *TokenCache) Marshal() ([]byte, error) {
	root := newObject()
	add := func(name string) error {
		var n *jnode
		var err error
		var size int
		switch name {
		case CredAccessToken:
			n, err = encodeSection(&c.AccessTokens)
			size = c.AccessTokens.Len()
		case CredRefreshToken:
			n, err = encodeSection(&c.RefreshTokens)
			size = c.RefreshTokens.Len()
		case CredIDToken:
			n, err = encodeSection(&c.IDTokens)
			size = c.IDTokens.Len()
		case CredAccount:
			n, err = encodeSection(&c.Accounts)
			size = c.Accounts.Len()
		case CredAppMetadata:
			n, err = encodeSection(&c.AppMetadata)
			size = c.AppMetadata.Len()
		default:
			if o, ok := c.other[name]; ok {
				root.set(name, o)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("token cache section %s: %w", name, err)
		}
		if size > 0 || slices.Contains(c.order, name) {
			root.set(name, n)
		}
		return nil
	}
	for _, name := range c.order {
		if err := add(name); err != nil {
			return nil, err
		}
	}
	for _, name := range newSectionOrder {
		if !slices.Contains(c.order, name) {
			if err := add(name); err != nil {
				return nil, err
			}
		}
	}
	var b bytes.Buffer
	encodePy(&b, root, 4, 0)
	return b.Bytes(), nil
}

// Clone returns a deep copy of c (through its serialised form).
func (c *TokenCache) Clone() (*TokenCache, error) {
	b, err := c.Marshal()
	if err != nil {
		return nil, err
	}
	d, err := ParseTokenCache(b)
	if err != nil {
		return nil, err
	}
	d.order = slices.Clone(c.order)
	return d, nil
}

// FindAccount returns the account of homeAccountID. With a tenant it
// prefers the entry of that realm; without one (or when none matches the
// realm) it returns the first entry of that home account.
func (c *TokenCache) FindAccount(homeAccountID, tenant string) (*Account, bool) {
	var first *Account
	for _, a := range c.Accounts.All() {
		if !strings.EqualFold(a.HomeAccountID, homeAccountID) {
			continue
		}
		if tenant != "" && strings.EqualFold(a.Realm, tenant) {
			return a, true
		}
		if first == nil {
			first = a
		}
	}
	return first, first != nil
}

// PutAccount stores a under its key.
func (c *TokenCache) PutAccount(a *Account) { c.Accounts.Put(a.Key(), a) }

// AdoptAccounts puts the Account and AppMetadata entries of f (a cache
// fragment such as azkeep's vault item) into c, first removing those
// accounts' access and refresh tokens: the seed's "remove access token"
// before a redemption, and no stale refresh token left beside the new one.
func (c *TokenCache) AdoptAccounts(f *TokenCache) {
	for _, a := range f.Accounts.All() {
		c.RemoveAccessTokens(a.HomeAccountID)
		c.RemoveRefreshTokens(a.HomeAccountID)
	}
	c.MergeAccounts(f)
}

// MergeAccounts puts f's accounts and app metadata into c and keeps the
// tokens c holds: a token added on demand joins the ones there.
func (c *TokenCache) MergeAccounts(f *TokenCache) {
	for _, a := range f.Accounts.All() {
		c.PutAccount(a)
	}
	for k, m := range f.AppMetadata.All() {
		c.AppMetadata.Put(k, m)
	}
}

// RefreshToken returns the refresh token of homeAccountID for clientID
// (any target, any environment when environment is ""), as MSAL finds it.
func (c *TokenCache) RefreshToken(homeAccountID, environment, clientID string) (*RefreshToken, bool) {
	for _, rt := range c.RefreshTokens.All() {
		if rtMatches(rt, homeAccountID, environment) && strings.EqualFold(rt.ClientID, clientID) {
			return rt, true
		}
	}
	return nil, false
}

func rtMatches(rt *RefreshToken, homeAccountID, environment string) bool {
	return strings.EqualFold(rt.HomeAccountID, homeAccountID) &&
		(environment == "" || strings.EqualFold(rt.Environment, environment))
}

// PutRefreshToken stores rt, replacing every other refresh token of the
// same account, environment and client (whatever its target), so exactly
// one refresh token of that account rests in the cache.
func (c *TokenCache) PutRefreshToken(rt *RefreshToken) {
	key := rt.Key()
	c.RefreshTokens.DeleteFunc(func(k string, o *RefreshToken) bool {
		return k != key && rtMatches(o, rt.HomeAccountID, rt.Environment) && strings.EqualFold(o.ClientID, rt.ClientID)
	})
	c.RefreshTokens.Put(key, rt)
}

// RemoveRefreshTokens removes every refresh token of homeAccountID
// (every account when homeAccountID is "") and returns how many it removed.
func (c *TokenCache) RemoveRefreshTokens(homeAccountID string) int {
	return c.RefreshTokens.DeleteFunc(func(_ string, rt *RefreshToken) bool {
		return homeAccountID == "" || strings.EqualFold(rt.HomeAccountID, homeAccountID)
	})
}

// RemoveAccessTokens removes every access token of homeAccountID (every
// access token when homeAccountID is "") and returns how many it removed.
func (c *TokenCache) RemoveAccessTokens(homeAccountID string) int {
	return c.AccessTokens.DeleteFunc(func(_ string, at *AccessToken) bool {
		return homeAccountID == "" || strings.EqualFold(at.HomeAccountID, homeAccountID)
	})
}

// RemoveAccount removes everything of one account — refresh, access and id
// tokens and the account entries, in every realm — as `az logout` does
// through MSAL's remove_account. Environment "" matches any environment.
// AppMetadata is kept, as az keeps it.
func (c *TokenCache) RemoveAccount(homeAccountID, environment string) int {
	match := func(home, env string) bool {
		return strings.EqualFold(home, homeAccountID) && (environment == "" || strings.EqualFold(env, environment))
	}
	n := c.RefreshTokens.DeleteFunc(func(_ string, e *RefreshToken) bool { return match(e.HomeAccountID, e.Environment) })
	n += c.AccessTokens.DeleteFunc(func(_ string, e *AccessToken) bool { return match(e.HomeAccountID, e.Environment) })
	n += c.IDTokens.DeleteFunc(func(_ string, e *IDToken) bool { return match(e.HomeAccountID, e.Environment) })
	n += c.Accounts.DeleteFunc(func(_ string, e *Account) bool { return match(e.HomeAccountID, e.Environment) })
	return n
}

// RemoveAll empties the four token sections (AppMetadata stays): the cache
// as `az logout` without arguments leaves it.
func (c *TokenCache) RemoveAll() int {
	return c.RefreshTokens.Clear() + c.AccessTokens.Clear() + c.IDTokens.Clear() + c.Accounts.Clear()
}

// AccessTokenFor returns the access token of homeAccountID in tenant whose
// target holds scope (e.g. "https://management.core.windows.net//.default"),
// the way az finds the token it serves from cache.
func (c *TokenCache) AccessTokenFor(homeAccountID, tenant, scope string) (*AccessToken, bool) {
	for _, at := range c.AccessTokens.All() {
		if !strings.EqualFold(at.HomeAccountID, homeAccountID) || !strings.EqualFold(at.Realm, tenant) {
			continue
		}
		for _, s := range strings.Fields(at.Target) {
			if strings.EqualFold(s, scope) {
				return at, true
			}
		}
	}
	return nil, false
}
