package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
)

// The fakes below stand in for az, the Azure CLI's files and the token
// endpoint. They keep the files as plain JSON in the dir, so snapshots,
// restores and "no refresh token on disk" are checked on real files.

type fakeCache struct {
	Account json.RawMessage `json:"account,omitempty"`
	RT      json.RawMessage `json:"rt,omitempty"`
	AT      string          `json:"at,omitempty"`
}

func readFakeCache(dir string) fakeCache {
	var c fakeCache
	data, err := os.ReadFile(filepath.Join(dir, "msal_token_cache.json"))
	if err == nil {
		_ = json.Unmarshal(data, &c)
	}
	return c
}

func writeFakeCache(dir string, c fakeCache) error {
	data, _ := json.Marshal(c)
	return os.WriteFile(filepath.Join(dir, "msal_token_cache.json"), data, 0o600)
}

type fakeFiles struct{}

func (fakeFiles) ReadLogin(dir string) (*LoginData, error) {
	c := readFakeCache(dir)
	var acct struct {
		HomeAccountID string `json:"home_account_id"`
		Realm         string `json:"realm"`
		Username      string `json:"username"`
	}
	if err := json.Unmarshal(c.Account, &acct); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "azureProfile.json"))
	if err != nil {
		return nil, err
	}
	var prof struct{ Subscriptions []json.RawMessage }
	if err := json.Unmarshal(data, &prof); err != nil {
		return nil, err
	}
	ld := &LoginData{Account: c.Account, RefreshToken: c.RT, HomeAccountID: acct.HomeAccountID, Username: acct.Username, TenantID: acct.Realm}
	for _, raw := range prof.Subscriptions {
		var s struct{ ID, Name, TenantID string }
		_ = json.Unmarshal(raw, &s)
		ld.Subscriptions = append(ld.Subscriptions, Subscription{ID: s.ID, Name: s.Name, TenantID: s.TenantID, Raw: raw})
	}
	return ld, nil
}

func (fakeFiles) WriteProfile(dir, cloud string, sub json.RawMessage) error {
	data, _ := json.Marshal(map[string]any{"subscriptions": []json.RawMessage{sub}})
	return os.WriteFile(filepath.Join(dir, "azureProfile.json"), data, 0o600)
}

func (fakeFiles) PutCredentials(dir string, account, rt json.RawMessage) error {
	c := readFakeCache(dir)
	c.AT = ""
	c.Account, c.RT = account, rt
	return writeFakeCache(dir, c)
}

func (fakeFiles) TakeRefreshToken(dir, home string) (json.RawMessage, error) {
	c := readFakeCache(dir)
	rt := c.RT
	c.RT = nil
	return rt, writeFakeCache(dir, c)
}

func (fakeFiles) SetLocation(dir, loc string) error {
	if loc == "" {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "config"), []byte("[defaults]\nlocation = "+loc+"\n"), 0o600)
}

func (fakeFiles) OtherLogins(dir, home string) ([]string, error) { return nil, nil }

func (fakeFiles) LoginDirConfig(loginDir, target string) error {
	if data, err := os.ReadFile(filepath.Join(target, "config")); err == nil {
		return os.WriteFile(filepath.Join(loginDir, "config"), data, 0o600)
	}
	return nil
}

// fakeServer is the token endpoint: it issues refresh tokens, accepts each
// once when strict, and can revoke them all.
type fakeServer struct {
	mu       sync.Mutex
	tenantID string
	subs     []map[string]any
	valid    map[string]bool
	n        int
	strict   bool
	revoked  bool
	armDown  bool
	diskFull bool // the engine's write into the config dir fails
	lifetime time.Duration
	now      func() time.Time
	redeems  int
	logins   []string // login dirs seen
}

func newFakeServer(now func() time.Time) *fakeServer {
	return &fakeServer{
		tenantID: "11111111-1111-1111-1111-111111111111",
		valid:    map[string]bool{},
		lifetime: time.Hour,
		now:      now,
		subs: []map[string]any{
			{"id": "aaaaaaaa-0000-0000-0000-000000000001", "name": "Dev", "tenantId": "11111111-1111-1111-1111-111111111111", "state": "Enabled", "extra": "kept"},
			{"id": "aaaaaaaa-0000-0000-0000-000000000002", "name": "Prod", "tenantId": "11111111-1111-1111-1111-111111111111", "state": "Enabled"},
			{"id": "bbbbbbbb-0000-0000-0000-000000000001", "name": "Guest", "tenantId": "99999999-1111-1111-1111-111111111111", "state": "Enabled"},
		},
	}
}

func (s *fakeServer) issue() json.RawMessage {
	s.n++
	secret := fmt.Sprintf("rt-%d", s.n)
	s.valid[secret] = true
	data, _ := json.Marshal(map[string]string{"credential_type": "RefreshToken", "secret": secret, "home_account_id": "uid.utid"})
	return data
}

type fakeRunner struct{ s *fakeServer }

func (r fakeRunner) Login(ctx context.Context, req LoginRequest) error {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins = append(s.logins, req.ConfigDir)
	s.revoked = false
	acct, _ := json.Marshal(map[string]string{"home_account_id": "uid.utid", "realm": s.tenantID, "username": "ada@contoso.test"})
	if err := writeFakeCache(req.ConfigDir, fakeCache{Account: acct, RT: s.issue()}); err != nil {
		return err
	}
	data, _ := json.Marshal(map[string]any{"subscriptions": s.subs})
	return os.WriteFile(filepath.Join(req.ConfigDir, "azureProfile.json"), data, 0o600)
}

// fakeEngine implements the engine contract production uses: it redeems
// the refresh token handed to it, hands the newest one to Keep, then writes
// the account and an access token into the cache, and the refresh token
// only when Keep failed.
type fakeEngine struct{ s *fakeServer }

func (fakeEngine) Name() string { return "fake" }

func (e fakeEngine) Redeem(ctx context.Context, req engine.Request) (engine.Result, error) {
	s := e.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.Account == nil || len(req.Subscription) == 0 {
		return engine.Result{}, errors.New("no account or subscription in the request")
	}
	secret := secretOf(req.RefreshToken)
	if s.revoked || !s.valid[secret] {
		return engine.Result{}, &azure.NeedsLoginError{Code: "invalid_grant", Description: "AADSTS70008: revoked"}
	}
	s.redeems++
	newRT := req.RefreshToken
	if s.strict {
		delete(s.valid, secret)
		newRT = s.issue()
	}
	keepErr := req.Keep(newRT)
	c := readFakeCache(req.ConfigDir)
	c.Account, c.RT, c.AT = req.Account, nil, fmt.Sprintf("at-%d", s.redeems)
	if keepErr != nil {
		c.RT = newRT
	}
	if s.diskFull {
		return engine.Result{}, errors.Join(keepErr, errors.New("write msal_token_cache.json: no space left on device"))
	}
	if err := writeFakeCache(req.ConfigDir, c); err != nil {
		return engine.Result{}, errors.Join(keepErr, err)
	}
	if keepErr != nil {
		return engine.Result{}, keepErr
	}
	return engine.Result{ExpiresOn: s.now().Add(s.lifetime)}, nil
}

func (fakeEngine) Logout(ctx context.Context, dir string) error {
	if err := writeFakeCache(dir, fakeCache{}); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "azureProfile.json"), []byte(`{"subscriptions": []}`), 0o600)
}

// secretOf returns the "secret" field of a cache entry (for comparing
// refresh tokens without keeping them in more places).
func secretOf(entry json.RawMessage) string {
	var e struct {
		Secret string `json:"secret"`
	}
	_ = json.Unmarshal(entry, &e)
	return e.Secret
}

// RefreshSubscriptions is `az account list --refresh` against the fake
// server: the refresh token must be valid (and is rotated when strict).
// As az 2.45 does, a refresh that fails after the token endpoint answered
// (armDown: ARM answers 500) exits 0 with a warning and keeps the profile
// it found.
func (r fakeRunner) RefreshSubscriptions(ctx context.Context, dir string) (string, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c := readFakeCache(dir)
	secret := secretOf(c.RT)
	if s.revoked || !s.valid[secret] {
		return "", &azure.NeedsLoginError{Code: "invalid_grant", Description: "AADSTS70008: revoked"}
	}
	if s.strict {
		delete(s.valid, secret)
		c.RT = s.issue()
	}
	if err := writeFakeCache(dir, c); err != nil {
		return "", err
	}
	if s.armDown {
		return "Refreshing for 'u' failed with an error '500 Server Error'. The existing accounts were not modified.", nil
	}
	data, _ := json.Marshal(map[string]any{"subscriptions": s.subs})
	return "", os.WriteFile(filepath.Join(dir, "azureProfile.json"), data, 0o600)
}
