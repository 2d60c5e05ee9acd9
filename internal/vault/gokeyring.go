package vault

import (
	"context"
	"errors"
	"fmt"

	keyring "github.com/zalando/go-keyring"
)

// goKeyringKV is the macOS Keychain or the Windows Credential Manager
// through go-keyring's package-level provider (one per process; neither
// holds a connection to reopen). Item names:
//
//	keychain: generic password, service "azkeep", account "<integration-id>/<item>"
//	wincred:  generic credential "azkeep:<integration-id>/<item>", user name "<integration-id>/<item>"
type goKeyringKV struct {
	backend string
	service string
}

// Per-item limits of the value string azkeep hands to go-keyring. wincred
// takes at most 2,560 bytes of credential blob. go-keyring passes a Keychain
// item to `security -i` as base64 on one command line of at most 4,096
// bytes, so our string must stay near 2,900 bytes; 2,048 leaves room for the
// service and account names.
const (
	wincredLimit  = 2560
	keychainLimit = 2048
)

func (k *goKeyringKV) get(_ context.Context, key string) (string, error) {
	v, err := keyring.Get(k.service, key)
	if errors.Is(err, keyring.ErrNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", k.classify(err)
	}
	return v, nil
}

func (k *goKeyringKV) set(_ context.Context, key, value string) error {
	if err := keyring.Set(k.service, key, value); err != nil {
		return k.classify(err)
	}
	return nil
}

func (k *goKeyringKV) del(_ context.Context, key string) error {
	err := keyring.Delete(k.service, key)
	if errors.Is(err, keyring.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return k.classify(err)
	}
	return nil
}

func (k *goKeyringKV) classify(err error) error {
	what := map[string]string{"keychain": "macOS Keychain", "wincred": "Windows Credential Manager"}[k.backend]
	if errors.Is(err, keyring.ErrSetDataTooBig) {
		return fmt.Errorf("%s refused the item as too large (azkeep bug: it should have been sealed): %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
