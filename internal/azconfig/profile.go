package azconfig

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// User is a subscription's "user" member.
type User struct {
	Name string // the account's username, or a service principal's app id
	Type string // "user" or "servicePrincipal"
}

// Subscription is one entry of azureProfile.json's "subscriptions".
// Members azconfig does not know are kept (in order) and written back.
type Subscription struct {
	ID              string
	Name            string
	State           string // "Enabled", "Disabled", "Warned", …
	User            User
	IsDefault       bool
	TenantID        string
	EnvironmentName string // "AzureCloud"
	HomeTenantID    string
	// ManagedByTenants are the tenant ids of "managedByTenants".
	ManagedByTenants []string

	raw *jnode // the object as read, nil for a new subscription
}

// Profile is the content of azureProfile.json.
type Profile struct {
	Subscriptions []*Subscription
	// InstallationID is az's telemetry installation id (kept as found).
	InstallationID string

	raw *jnode
}

// ParseProfile reads azureProfile.json's content (with or without its
// UTF-8 BOM). Empty content is an empty profile; anything else that is not
// a JSON object with a list of subscription objects is an error.
func ParseProfile(data []byte) (*Profile, error) {
	data = bytes.TrimPrefix(data, bom)
	p := &Profile{}
	if len(bytes.TrimSpace(data)) == 0 {
		return p, nil
	}
	root, err := parseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if root.kind != jObject {
		return nil, errors.New("profile: not a JSON object")
	}
	p.raw = root
	if n := root.get("installationId"); n != nil && n.kind == jString {
		p.InstallationID = n.s
	}
	subs := root.get("subscriptions")
	if subs == nil || subs.kind == jNull {
		return p, nil
	}
	if subs.kind != jArray {
		return nil, errors.New("profile: subscriptions is not a list")
	}
	for i, n := range subs.arr {
		s, err := decodeSubscription(n)
		if err != nil {
			return nil, fmt.Errorf("profile: subscription %d: %w", i, err)
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	return p, nil
}

func str(n *jnode) string {
	if n != nil && n.kind == jString {
		return n.s
	}
	return ""
}

func decodeSubscription(n *jnode) (*Subscription, error) {
	if n.kind != jObject {
		return nil, errors.New("not a JSON object")
	}
	s := &Subscription{
		raw:             n,
		ID:              str(n.get("id")),
		Name:            str(n.get("name")),
		State:           str(n.get("state")),
		TenantID:        str(n.get("tenantId")),
		EnvironmentName: str(n.get("environmentName")),
		HomeTenantID:    str(n.get("homeTenantId")),
	}
	if s.ID == "" {
		return nil, errors.New("no id")
	}
	if u := n.get("user"); u != nil && u.kind == jObject {
		s.User = User{Name: str(u.get("name")), Type: str(u.get("type"))}
	}
	if d := n.get("isDefault"); d != nil && d.kind == jBool {
		s.IsDefault = d.s == "true"
	}
	s.ManagedByTenants = managedBy(n.get("managedByTenants"))
	return s, nil
}

func managedBy(n *jnode) []string {
	if n == nil || n.kind != jArray {
		return nil
	}
	ids := []string{}
	for _, t := range n.arr {
		if t.kind == jObject {
			ids = append(ids, str(t.get("tenantId")))
		}
	}
	return ids
}

// clone copies a tree so that encoding never changes what was read.
func (n *jnode) clone() *jnode {
	if n == nil {
		return nil
	}
	c := *n
	c.arr = make([]*jnode, len(n.arr))
	for i, v := range n.arr {
		c.arr[i] = v.clone()
	}
	c.keys = slices.Clone(n.keys)
	c.vals = make([]*jnode, len(n.vals))
	for i, v := range n.vals {
		c.vals[i] = v.clone()
	}
	return &c
}

// setStr sets a string member unless the member already holds that value,
// or holds a non-string and v is "" (a null name stays null).
func setStr(o *jnode, name, v string, isNew bool) {
	cur := o.get(name)
	switch {
	case cur == nil:
		if v != "" || isNew {
			o.set(name, jstr(v))
		}
	case cur.kind == jString && cur.s == v:
	case cur.kind != jString && v == "":
	default:
		o.set(name, jstr(v))
	}
}

func encodeSubscription(s *Subscription) *jnode {
	isNew := s.raw == nil
	o := s.raw.clone()
	if isNew {
		o = newObject()
	}
	// az's member order: id, name, state, user, isDefault, tenantId,
	// environmentName, homeTenantId, managedByTenants.
	setStr(o, "id", s.ID, isNew)
	setStr(o, "name", s.Name, isNew)
	setStr(o, "state", s.State, isNew)
	// A "user" that is not an object (null) stays unless a user was set.
	if u := o.get("user"); u != nil && u.kind == jObject {
		setStr(u, "name", s.User.Name, true)
		setStr(u, "type", s.User.Type, true)
	} else if (u == nil && isNew) || s.User != (User{}) {
		u = newObject()
		u.set("name", jstr(s.User.Name))
		u.set("type", jstr(s.User.Type))
		o.set("user", u)
	}
	if d := o.get("isDefault"); d == nil || d.kind != jBool || (d.s == "true") != s.IsDefault {
		o.set("isDefault", &jnode{kind: jBool, s: fmt.Sprint(s.IsDefault)})
	}
	setStr(o, "tenantId", s.TenantID, isNew)
	setStr(o, "environmentName", s.EnvironmentName, isNew)
	setStr(o, "homeTenantId", s.HomeTenantID, isNew)
	if cur := o.get("managedByTenants"); isNew || !slices.Equal(managedBy(cur), s.ManagedByTenants) ||
		(cur == nil && s.ManagedByTenants != nil) {
		arr := &jnode{kind: jArray}
		for _, id := range s.ManagedByTenants {
			t := newObject()
			t.set("tenantId", jstr(id))
			arr.arr = append(arr.arr, t)
		}
		o.set("managedByTenants", arr)
	}
	return o
}

// MarshalJSON writes the subscription as az does (unknown members kept),
// so a subscription can travel through the vault without losing fields.
func (s *Subscription) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	encodePy(&b, encodeSubscription(s), 0, 0)
	return b.Bytes(), nil
}

// UnmarshalJSON reads a subscription object, keeping unknown members.
func (s *Subscription) UnmarshalJSON(data []byte) error {
	n, err := parseJSON(data)
	if err != nil {
		return err
	}
	d, err := decodeSubscription(n)
	if err != nil {
		return err
	}
	*s = *d
	return nil
}

// Marshal returns the file content as az writes it: a UTF-8 BOM, then
// Python's json.dump (one line, separators ", " and ": "), no newline.
func (p *Profile) Marshal() ([]byte, error) {
	root := p.raw.clone()
	if root == nil {
		root = newObject()
	}
	subs := &jnode{kind: jArray}
	for _, s := range p.Subscriptions {
		subs.arr = append(subs.arr, encodeSubscription(s))
	}
	root.set("subscriptions", subs)
	setStr(root, "installationId", p.InstallationID, false)
	var b bytes.Buffer
	b.Write(bom)
	encodePy(&b, root, 0, 0)
	return b.Bytes(), nil
}

// Find returns the subscription with this id (case-insensitive).
func (p *Profile) Find(id string) (*Subscription, bool) {
	for _, s := range p.Subscriptions {
		if strings.EqualFold(s.ID, id) {
			return s, true
		}
	}
	return nil, false
}

// SetSingle makes sub the profile's only subscription, as default (seed,
// start step 2); installationId and unknown members stay.
func (p *Profile) SetSingle(sub Subscription) {
	sub.IsDefault = true
	p.Subscriptions = []*Subscription{&sub}
}

// LoadProfile reads dir's azureProfile.json; a missing file is an empty profile.
func LoadProfile(dir string) (*Profile, error) {
	p, _, err := readProfile(filepath.Join(dir, ProfileFile))
	return p, err
}

func readProfile(path string) (*Profile, []byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Profile{}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	p, err := ParseProfile(data)
	if err != nil {
		return nil, nil, malformed(path, err)
	}
	return p, data, nil
}

// applyProfileUpdate parses data (nil: no file), runs fn and says whether
// the result must be written. Malformed data is an error before fn runs.
func applyProfileUpdate(data []byte, fn func(*Profile) error) (out []byte, write bool, err error) {
	return applyUpdate(data, ParseProfile, fn)
}

// UpdateProfile reads dir's azureProfile.json, calls fn and writes the
// profile back atomically (0600) when fn changed it. A malformed file is
// an error and stays untouched. (az itself takes no lock on this file.)
func UpdateProfile(ctx context.Context, dir string, fn func(*Profile) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path := filepath.Join(dir, ProfileFile)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	after, write, err := applyProfileUpdate(data, fn)
	if err != nil {
		return atPath(path, err)
	}
	if !write {
		return nil
	}
	if err := os.MkdirAll(dir, fileutil.DirPerm); err != nil {
		return err
	}
	// Not fsynced: az does not either, and a start or rotation rewrites
	// the profile from the vault.
	return writeRetry(path, after, false)
}

// WriteSingleSubscription writes dir's azureProfile.json holding sub alone
// as the default subscription, keeping installationId (seed, start step 2).
func WriteSingleSubscription(ctx context.Context, dir string, sub Subscription) error {
	return UpdateProfile(ctx, dir, func(p *Profile) error {
		p.SetSingle(sub)
		return nil
	})
}

// ClearSubscriptions empties the profile's subscriptions, leaving
// `{"subscriptions": []}` (plus installationId) as az logout does.
func ClearSubscriptions(ctx context.Context, dir string) error {
	return UpdateProfile(ctx, dir, func(p *Profile) error {
		p.Subscriptions = nil
		return nil
	})
}
