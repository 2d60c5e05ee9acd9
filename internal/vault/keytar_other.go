//go:build !darwin && !windows

package vault

import "context"

// keytarGet reads keytar's Secret Service item: libsecret's generic schema
// with the attributes service and account, in the default collection.
func keytarGet(ctx context.Context, service, account string) (string, error) {
	kv := &secretServiceKV{service: service, accountAttr: "account"}
	return kv.get(ctx, account)
}
