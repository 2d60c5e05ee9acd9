//go:build !unix

package vault

import (
	"errors"
	"net"
	"os"
)

func listenUnix(string) (net.Listener, error) { return nil, errors.New("no unix sockets") }

// killSelf ends the process at once (TerminateProcess on Windows).
func killSelf() {
	p, _ := os.FindProcess(os.Getpid())
	p.Kill()
}
