package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"

	dbus "github.com/godbus/dbus/v5"
	ss "github.com/zalando/go-keyring/secret_service"

	"github.com/azkeep/azkeep/internal/hint"
)

// secretServiceKV talks to the freedesktop Secret Service (gnome-keyring,
// KeePassXC, KWallet's bridge) over the D-Bus session bus, through
// go-keyring's secret_service client. It keeps one client for the life of
// the store; godbus shares one bus connection per process.
//
// Items are stored in the default ("login") collection with the attributes
// go-keyring uses, so `secret-tool search service azkeep` finds them:
//
//	service  = "azkeep" (Options.Service)
//	username = "<integration-id>/<item>"
type secretServiceKV struct {
	service string
	// accountAttr names the attribute that holds the key: "username"
	// (go-keyring's, the default) or "account" (keytar's, for Keytar).
	accountAttr string

	mu  sync.Mutex
	svc *ss.SecretService
}

// errNoSession is reported at once when there is no session bus to talk to:
// godbus would otherwise autolaunch dbus-launch (where dbus-x11 is
// installed), leaving daemons behind and failing anyway.
var errNoSession = hint.New(mark(ErrUnavailable, "no D-Bus session: the Secret Service is unreachable (DBUS_SESSION_BUS_ADDRESS is not set)"),
	"run azkeep inside a desktop session (or dbus-run-session with gnome-keyring-daemon --unlock), or use --vault pass or --vault file")

// sessionBusAvailable reports whether godbus would find a session bus
// without autolaunching one: the same order godbus itself follows.
func sessionBusAvailable() bool {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return true
	}
	u, err := user.Current()
	if err != nil {
		return false
	}
	for _, f := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(filepath.Join("/run/user", u.Uid, f)); err == nil {
			return true
		}
	}
	return false
}

func (k *secretServiceKV) client() (*ss.SecretService, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.svc != nil && k.svc.Connected() {
		return k.svc, nil
	}
	if !sessionBusAvailable() {
		return nil, errNoSession
	}
	svc, err := ss.NewSecretService()
	if err != nil {
		return nil, hint.New(mark(ErrUnavailable, "cannot connect to the D-Bus session bus for the Secret Service: %v", err),
			"check DBUS_SESSION_BUS_ADDRESS points at a running session bus, or use --vault pass or --vault file")
	}
	k.svc = svc
	return svc, nil
}

func (k *secretServiceKV) attrs(key string) map[string]string {
	attr := k.accountAttr
	if attr == "" {
		attr = "username"
	}
	return map[string]string{"service": k.service, attr: key}
}

// collection returns the unlocked default collection.
func (k *secretServiceKV) collection() (*ss.SecretService, dbus.BusObject, error) {
	svc, err := k.client()
	if err != nil {
		return nil, nil, err
	}
	coll := svc.GetLoginCollection()
	if err := svc.Unlock(coll.Path()); err != nil {
		return nil, nil, classifyDBus(err, true)
	}
	return svc, coll, nil
}

func (k *secretServiceKV) find(svc *ss.SecretService, coll dbus.BusObject, key string) ([]dbus.ObjectPath, error) {
	items, err := svc.SearchItems(coll, k.attrs(key))
	if err != nil {
		return nil, classifyDBus(err, false)
	}
	return items, nil
}

func (k *secretServiceKV) get(_ context.Context, key string) (string, error) {
	return k.getItem(k.attrs(key))
}

// getItem returns the secret of the item with attrs (ErrNotFound: none).
func (k *secretServiceKV) getItem(attrs map[string]string) (string, error) {
	svc, coll, err := k.collection()
	if err != nil {
		return "", err
	}
	items, err := svc.SearchItems(coll, attrs)
	if err != nil {
		return "", classifyDBus(err, false)
	}
	if len(items) == 0 {
		return "", ErrNotFound
	}
	session, err := svc.OpenSession()
	if err != nil {
		return "", classifyDBus(err, false)
	}
	defer svc.Close(session)
	secret, err := svc.GetSecret(items[0], session.Path())
	if err != nil {
		return "", classifyDBus(err, false)
	}
	return string(secret.Value), nil
}

func (k *secretServiceKV) set(_ context.Context, key, value string) error {
	return k.setItem("azkeep: "+key, k.attrs(key), value)
}

// setItem creates or replaces the item with attrs in the default
// collection.
func (k *secretServiceKV) setItem(label string, attrs map[string]string, value string) error {
	svc, coll, err := k.collection()
	if err != nil {
		return err
	}
	session, err := svc.OpenSession()
	if err != nil {
		return classifyDBus(err, false)
	}
	defer svc.Close(session)
	secret := ss.NewSecret(session.Path(), value)
	// CreateItem with replace=true overwrites the item with the same
	// attributes in place.
	if err := svc.CreateItem(coll, label, attrs, secret); err != nil {
		return classifyDBus(err, false)
	}
	return nil
}

// SecretServiceItem is one item of the default Secret Service collection
// that another program finds by its attributes (az's token cache, through
// msal-extensions' libsecret persistence), read and written whole.
type SecretServiceItem struct {
	label string
	attrs map[string]string
	kv    secretServiceKV
}

// NewSecretServiceItem returns the item with exactly these label and
// attributes; nothing is asked of the Secret Service until Get or Set.
func NewSecretServiceItem(label string, attrs map[string]string) *SecretServiceItem {
	return &SecretServiceItem{label: label, attrs: attrs}
}

// Get returns the item's secret; ErrNotFound when there is no such item,
// ErrUnavailable (with a hint) when no Secret Service answers.
func (it *SecretServiceItem) Get() (string, error) { return it.kv.getItem(it.attrs) }

// Set creates the item or replaces its secret.
func (it *SecretServiceItem) Set(value string) error {
	return it.kv.setItem(it.label, it.attrs, value)
}

func (k *secretServiceKV) del(_ context.Context, key string) error {
	svc, coll, err := k.collection()
	if err != nil {
		return err
	}
	items, err := k.find(svc, coll, key)
	if err != nil {
		return err
	}
	if len(items) == 0 {
		return ErrNotFound
	}
	for _, it := range items {
		if err := svc.Delete(it); err != nil {
			return classifyDBus(err, false)
		}
	}
	return nil
}

// classifyDBus turns godbus and Secret Service errors, which never mention
// the Secret Service, into ones that do.
func classifyDBus(err error, unlocking bool) error {
	var de dbus.Error
	name := ""
	if errors.As(err, &de) {
		name = de.Name
	}
	switch {
	case name == "org.freedesktop.DBus.Error.ServiceUnknown" || name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
		name == "org.freedesktop.DBus.Error.Spawn.ServiceNotFound":
		return hint.New(mark(ErrUnavailable, "no Secret Service on the D-Bus session bus (%v)", err),
			"start a Secret Service (gnome-keyring-daemon --unlock --components=secrets, KeePassXC), or use --vault pass or --vault file")
	case name == "org.freedesktop.Secret.Error.IsLocked" || unlocking || strings.Contains(err.Error(), "failed to unlock"):
		return mark(ErrLocked, "the Secret Service collection is locked and could not be unlocked (%v)", err)
	case errors.Is(err, dbus.ErrClosed):
		return hint.New(mark(ErrUnavailable, "the D-Bus connection to the Secret Service closed (%v)", err),
			"retry; check that the session bus and the keyring daemon are running")
	}
	return fmt.Errorf("Secret Service: %w", err)
}
