//go:build !linux

package azcli

import "os/exec"

// dieWithParent: only Linux lets a child ask to be signalled when its
// parent dies; elsewhere azkeep's signal handling stops az.
func dieWithParent(*exec.Cmd) {}
