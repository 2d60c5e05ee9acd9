package entraemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Snapshot is the emulator's directory and settings as JSON: the first line
// `azkeep emulator --output json` prints, and GET /_emulator/state. Scripts
// depend on its shape: add fields, never rename them.
type Snapshot struct {
	Env           map[string]string `json:"env"`
	ProxyURL      string            `json:"proxy_url"`
	CAFile        string            `json:"ca_file"`
	ControlURL    string            `json:"control_url"`
	TokenLifetime string            `json:"token_lifetime"`
	StrictRefresh bool              `json:"strict_refresh"`
	Tenants       []SnapshotTenant  `json:"tenants"`
}

// SnapshotTenant is one tenant of a Snapshot.
type SnapshotTenant struct {
	ID                string                 `json:"id"`
	Domain            string                 `json:"domain"`
	Users             []SnapshotUser         `json:"users"`
	Subscriptions     []SnapshotSubscription `json:"subscriptions"`
	ServicePrincipals []SnapshotSP           `json:"service_principals"`
	Guests            []string               `json:"guests"`
}

// SnapshotUser is a user with its password (emulated, not a real secret).
type SnapshotUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
	ObjectID string `json:"object_id"`
}

// SnapshotSubscription is a subscription of a tenant.
type SnapshotSubscription struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
}

// SnapshotSP is a service principal with its client secret.
type SnapshotSP struct {
	AppID  string `json:"app_id"`
	Secret string `json:"secret"`
}

// ControlURL is the base URL of the emulator's control API.
func (e *Emulator) ControlURL() string { return e.ProxyURL() + "/_emulator" }

// Snapshot describes the emulator now.
func (e *Emulator) Snapshot() Snapshot {
	s := Snapshot{
		Env:           map[string]string{},
		ProxyURL:      e.ProxyURL(),
		CAFile:        e.CAPath(),
		ControlURL:    e.ControlURL(),
		TokenLifetime: e.TokenLifetime().String(),
		StrictRefresh: e.StrictRefresh(),
		Tenants:       []SnapshotTenant{},
	}
	for _, kv := range e.Env() {
		k, v, _ := strings.Cut(kv, "=")
		s.Env[k] = v
	}
	for _, t := range e.Tenants() {
		st := SnapshotTenant{ID: t.ID, Domain: t.Domain, Users: []SnapshotUser{}, Subscriptions: []SnapshotSubscription{},
			ServicePrincipals: []SnapshotSP{}, Guests: append([]string{}, t.Guests...)}
		for _, u := range t.Users {
			st.Users = append(st.Users, SnapshotUser{Username: u.Username, Password: u.Password, ObjectID: u.ObjectID})
		}
		for _, sub := range t.Subscriptions {
			st.Subscriptions = append(st.Subscriptions, SnapshotSubscription{ID: sub.ID, Name: sub.Name, State: sub.State})
		}
		for _, sp := range t.ServicePrincipals {
			st.ServicePrincipals = append(st.ServicePrincipals, SnapshotSP{AppID: sp.AppID, Secret: sp.Secret})
		}
		s.Tenants = append(s.Tenants, st)
	}
	return s
}

// ControlHeader must be set on every control request that changes state:
// a browser page cannot send it cross-origin without a CORS preflight,
// which the emulator never grants.
const ControlHeader = "X-Entraemu-Control"

// serveControl is the control API on the emulator's own port (direct
// requests, not proxied), so `azkeep emulator` users can drive the test
// controls from scripts:
//
//	GET    /_emulator/state                   the Snapshot
//	GET    /_emulator/requests                the request log (never a secret)
//	DELETE /_emulator/requests                empty it
//	POST   /_emulator/revoke        {"username"}
//	POST   /_emulator/interaction   {"username", "on"}
//	POST   /_emulator/guests        {"username", "tenant"}
//	POST   /_emulator/subscriptions {"tenant", "name"}          → the subscription
//	PATCH  /_emulator/subscriptions/{id} {"name"?, "state"?}
//	DELETE /_emulator/subscriptions/{id}
//	POST   /_emulator/faults        a Fault;  DELETE /_emulator/faults clears them
//	POST   /_emulator/settings      {"latency", "token_lifetime", "refresh_token_lifetime" (Go durations), "strict_refresh", "device_polls"}
//
// Changing requests need the header X-Entraemu-Control: 1.
func (e *Emulator) serveControl(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_emulator"), "/")
	if r.Method != http.MethodGet && r.Header.Get(ControlHeader) == "" {
		controlError(w, http.StatusForbidden, "set the header "+ControlHeader+": 1 on requests that change the emulator")
		return
	}
	var err error
	switch {
	case r.Method == http.MethodGet && path == "/state":
		writeJSON(w, http.StatusOK, e.Snapshot())
		return
	case r.Method == http.MethodGet && path == "/requests":
		writeJSON(w, http.StatusOK, e.Requests())
		return
	case r.Method == http.MethodDelete && path == "/requests":
		e.ResetRequests()
	case r.Method == http.MethodPost && path == "/revoke":
		var in struct{ Username string }
		if err = decode(r, &in); err == nil {
			err = e.RevokeUser(in.Username)
		}
	case r.Method == http.MethodPost && path == "/interaction":
		var in struct {
			Username string
			On       bool
		}
		if err = decode(r, &in); err == nil {
			err = e.RequireInteraction(in.Username, in.On)
		}
	case r.Method == http.MethodPost && path == "/guests":
		var in struct{ Username, Tenant string }
		if err = decode(r, &in); err == nil {
			err = e.AddGuest(in.Username, in.Tenant)
		}
	case r.Method == http.MethodPost && path == "/subscriptions":
		var in struct{ Tenant, Name string }
		if err = decode(r, &in); err == nil {
			var s Subscription
			if s, err = e.AddSubscription(in.Tenant, in.Name); err == nil {
				writeJSON(w, http.StatusCreated, SnapshotSubscription{ID: s.ID, Name: s.Name, State: s.State})
				return
			}
		}
	case strings.HasPrefix(path, "/subscriptions/") && (r.Method == http.MethodPatch || r.Method == http.MethodDelete):
		id := strings.TrimPrefix(path, "/subscriptions/")
		if r.Method == http.MethodDelete {
			err = e.RemoveSubscription(id)
			break
		}
		var in struct{ Name, State string }
		if err = decode(r, &in); err == nil && in.Name != "" {
			err = e.RenameSubscription(id, in.Name)
		}
		if err == nil && in.State != "" {
			err = e.SetSubscriptionState(id, in.State)
		}
	case r.Method == http.MethodPost && path == "/faults":
		var f Fault
		if err = decode(r, &f); err == nil {
			e.AddFault(f)
		}
	case r.Method == http.MethodDelete && path == "/faults":
		e.ClearFaults()
	case r.Method == http.MethodPost && path == "/settings":
		var in struct {
			Latency       string `json:"latency"`
			TokenLifetime string `json:"token_lifetime"`
			StrictRefresh *bool  `json:"strict_refresh"`
			DevicePolls   *int   `json:"device_polls"`
			RefreshExpiry string `json:"refresh_token_lifetime"`
		}
		if err = decode(r, &in); err == nil {
			err = e.applySettings(in.Latency, in.TokenLifetime, in.StrictRefresh, in.DevicePolls)
		}
		if err == nil && in.RefreshExpiry != "" {
			d, perr := time.ParseDuration(in.RefreshExpiry)
			if perr != nil || d < 0 {
				err = fmt.Errorf("refresh_token_lifetime %q: want a Go duration (0 for never)", in.RefreshExpiry)
			} else {
				e.SetRefreshTokenLifetime(d)
			}
		}
	default:
		controlError(w, http.StatusNotFound, fmt.Sprintf("no control %s %s; see GET /_emulator/state", r.Method, r.URL.Path))
		return
	}
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (e *Emulator) applySettings(latency, lifetime string, strict *bool, polls *int) error {
	if latency != "" {
		d, err := time.ParseDuration(latency)
		if err != nil || d < 0 {
			return fmt.Errorf("latency %q: want a Go duration such as 250ms", latency)
		}
		e.SetLatency(d)
	}
	if lifetime != "" {
		d, err := time.ParseDuration(lifetime)
		if err != nil || d < time.Minute {
			return fmt.Errorf("token_lifetime %q: want a Go duration of 1m or more", lifetime)
		}
		e.SetTokenLifetime(d)
	}
	if strict != nil {
		e.SetStrictRefresh(*strict)
	}
	if polls != nil {
		if *polls < 0 {
			return fmt.Errorf("device_polls %d: want 0 or more", *polls)
		}
		e.SetDevicePolls(*polls)
	}
	return nil
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"error": msg})
}
