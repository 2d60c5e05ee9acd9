package vault

import (
	"context"
	"fmt"
	"time"
)

// Keytar reads the items another program keeps in the OS vault through
// keytar, node's keychain module (Electron apps such as Leapp), under one
// service name. It never writes or deletes. keytar's item names:
//
//	Secret Service:      attributes service=<service>, account=<account>, in the default collection
//	macOS Keychain:      generic password, service <service>, account <account>
//	Credential Manager:  generic credential "<service>/<account>", the password as UTF-8
type Keytar struct {
	Service string
	// Timeout bounds one read (DefaultTimeout when zero): a locked
	// keychain whose prompt nobody answers must not hang the caller.
	Timeout time.Duration
}

// Get returns the password of account, or an error wrapping ErrNotFound.
func (k Keytar) Get(ctx context.Context, account string) ([]byte, error) {
	timeout := k.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		v   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := keytarGet(ctx, k.Service, account)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		return []byte(r.v), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("reading %s's item %s from the OS vault: %w", k.Service, account, ctx.Err())
	}
}
