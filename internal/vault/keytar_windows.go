package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/danieljoos/wincred"
)

// keytarGet reads keytar's Credential Manager item, the generic credential
// "<service>/<account>" (go-keyring names its own "<service>:<account>").
func keytarGet(_ context.Context, service, account string) (string, error) {
	cred, err := wincred.GetGenericCredential(service + "/" + account)
	if errors.Is(err, wincred.ErrElementNotFound) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("Windows Credential Manager: %w", err)
	}
	return string(cred.CredentialBlob), nil
}
