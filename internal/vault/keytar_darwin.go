package vault

import "context"

// keytarGet reads keytar's Keychain item: a generic password under the
// service and account, which is exactly what go-keyring reads.
func keytarGet(ctx context.Context, service, account string) (string, error) {
	kv := &goKeyringKV{backend: "keychain", service: service}
	return kv.get(ctx, account)
}
