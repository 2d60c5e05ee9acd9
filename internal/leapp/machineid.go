package leapp

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/azkeep/azkeep/internal/hint"
)

// MachineIDEnv names the variable that stands in for the OS machine id, for
// tests and for support (opening a workspace copied from a machine whose id
// is known). It takes the raw id, as /etc/machine-id holds it.
const MachineIDEnv = "AZKEEP_LEAPP_MACHINE_ID"

var spaceRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\s+`) })

// normalize is what node-machine-id does to the id it read: all whitespace
// out, lower case.
func normalize(id string) string { return strings.ToLower(spaceRE().ReplaceAllString(id, "")) }

// Key is the passphrase Leapp encrypts its workspace with on the machine
// whose raw id is id: node-machine-id's machineIdSync(), the sha256 hex of
// the normalised id.
func Key(id string) string {
	sum := sha256.Sum256([]byte(normalize(id)))
	return hex.EncodeToString(sum[:])
}

// MachineID returns the raw machine id as node-machine-id reads it on this
// OS, or the value of $AZKEEP_LEAPP_MACHINE_ID.
func MachineID() (string, error) {
	if v := os.Getenv(MachineIDEnv); v != "" {
		return normalize(v), nil
	}
	var id string
	var err error
	switch runtime.GOOS {
	case "linux":
		id = linuxMachineID()
	case "darwin":
		id, err = darwinMachineID()
	case "windows":
		id, err = windowsMachineID()
	case "freebsd":
		id, err = freebsdMachineID()
	default:
		err = fmt.Errorf("leapp does not run on %s", runtime.GOOS)
	}
	if err == nil && normalize(id) == "" {
		err = errors.New("it is empty")
	}
	if err != nil {
		return "", hint.New(fmt.Errorf("cannot read this machine's id, the key of Leapp's workspace: %w", err),
			"set "+MachineIDEnv+" to the machine id of the machine that wrote the workspace")
	}
	return normalize(id), nil
}

// linuxMachineID follows node-machine-id's shell line
// `( cat /var/lib/dbus/machine-id /etc/machine-id 2> /dev/null || hostname ) | head -n 1`:
// the first line of both files in turn, with the host name after them when
// either is missing (cat then fails).
func linuxMachineID() string {
	var out []byte
	failed := false
	for _, p := range []string{"/var/lib/dbus/machine-id", "/etc/machine-id"} {
		b, err := os.ReadFile(p)
		if err != nil {
			failed = true
			continue
		}
		out = append(out, b...)
	}
	if failed {
		if h, err := os.Hostname(); err == nil {
			out = append(out, h+"\n"...)
		}
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return line
}

// darwinMachineID is the IOPlatformUUID that `ioreg -rd1 -c
// IOPlatformExpertDevice` prints.
func darwinMachineID() (string, error) {
	out, err := exec.Command("ioreg", "-rd1", "-c", "IOPlatformExpertDevice").Output()
	if err != nil {
		return "", fmt.Errorf("ioreg: %w", err)
	}
	_, rest, ok := strings.Cut(string(out), "IOPlatformUUID")
	if !ok {
		return "", errors.New("ioreg printed no IOPlatformUUID")
	}
	line, _, _ := strings.Cut(rest, "\n")
	return strings.NewReplacer("=", "", `"`, "").Replace(line), nil
}

// freebsdMachineID is `kenv -q smbios.system.uuid || sysctl -n kern.hostuuid`.
func freebsdMachineID() (string, error) {
	if out, err := exec.Command("kenv", "-q", "smbios.system.uuid").Output(); err == nil {
		return string(out), nil
	}
	out, err := exec.Command("sysctl", "-n", "kern.hostuuid").Output()
	return string(out), err
}
