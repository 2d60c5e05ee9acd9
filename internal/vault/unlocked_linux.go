package vault

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The file vault's unlocked identity is kept in the kernel's session
// keyring (keyctl(2)), as aws-vault's keyctl backend keeps its secrets:
// the processes of the login session that possess the keyring (the user's
// shells and what they start) find it there, so the passphrase is
// stretched once per login session, not once per command. The key expires
// after its timeout; `azkeep vault lock` removes it at once. Where keyctl
// is not permitted (some containers' seccomp profiles), every call fails
// and the vault asks for the passphrase as before.

// unlockedKeyType is the kernel key type: "user" keys hold a payload only
// their possessor (and, with the permissions set below, the same user)
// can read.
const unlockedKeyType = "user"

func rememberUnlocked(desc string, secret []byte, ttl time.Duration) error {
	// The session keyring, without creating one: add_key on
	// KEY_SPEC_SESSION_KEYRING would give a process without one (no
	// pam_keyinit: containers, some desktops) a new keyring that ends with
	// it; looked up this way it is the user-session keyring instead, which
	// the next commands search too.
	ring, err := unix.KeyctlGetKeyringID(unix.KEY_SPEC_SESSION_KEYRING, false)
	if err != nil {
		return err
	}
	id, err := unix.AddKey(unlockedKeyType, desc, secret, ring)
	if err != nil {
		return err
	}
	// Possessor: view, read, write, search, link, setattr; nobody else.
	if _, err := unix.KeyctlInt(unix.KEYCTL_SETPERM, id, 0x3f000000, 0, 0); err != nil {
		unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		return err
	}
	if _, err := unix.KeyctlInt(unix.KEYCTL_SET_TIMEOUT, id, int(ttl/time.Second), 0, 0); err != nil {
		unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
		return err
	}
	return nil
}

func recallUnlocked(desc string) ([]byte, bool) {
	id, err := unix.KeyctlSearch(unix.KEY_SPEC_SESSION_KEYRING, unlockedKeyType, desc, 0)
	if err != nil {
		return nil, false
	}
	buf := make([]byte, 256)
	for {
		n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
		if err != nil || n < 0 {
			return nil, false
		}
		if n <= len(buf) {
			return bytes.Clone(buf[:n]), true
		}
		buf = make([]byte, n)
	}
}

// forgetUnlocked removes every key of the session keyring whose
// description starts with prefix and returns how many.
func forgetUnlocked(prefix string) (int, error) {
	buf := make([]byte, 4096)
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, unix.KEY_SPEC_SESSION_KEYRING, buf, 0)
	if err != nil {
		if errors.Is(err, unix.ENOKEY) {
			return 0, nil
		}
		return 0, err
	}
	if n > len(buf) {
		buf = make([]byte, n)
		if n, err = unix.KeyctlBuffer(unix.KEYCTL_READ, unix.KEY_SPEC_SESSION_KEYRING, buf, 0); err != nil {
			return 0, err
		}
	}
	forgot := 0
	for i := 0; i+4 <= n && i+4 <= len(buf); i += 4 {
		id := int(int32(binary.NativeEndian.Uint32(buf[i:])))
		d, err := unix.KeyctlString(unix.KEYCTL_DESCRIBE, id)
		if err != nil {
			continue
		}
		// "type;uid;gid;perm;description"
		parts := strings.SplitN(d, ";", 5)
		if len(parts) == 5 && parts[0] == unlockedKeyType && strings.HasPrefix(parts[4], prefix) {
			if _, err := unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0); err == nil {
				forgot++
			}
		}
	}
	return forgot, nil
}
