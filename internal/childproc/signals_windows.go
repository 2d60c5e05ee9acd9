//go:build windows

package childproc

import "os"

// On Windows a console's Ctrl-C and Ctrl-Break reach every process attached
// to it, the child included, and os.Process.Signal cannot send them: azkeep
// only catches them so that it outlives the child and cleans up.
var forwardedSignals = []os.Signal{os.Interrupt}

func shouldForward(os.Signal, int) bool { return false }

func signalCode(*os.ProcessState) int { return 1 }
