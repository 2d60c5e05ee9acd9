//go:build !unix

package vault

import (
	"errors"
	"net"
)

func listenUnix(string) (net.Listener, error) { return nil, errors.New("no unix sockets") }
