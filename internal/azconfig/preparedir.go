package azconfig

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// PrepareDir gives the config dir dst the settings of src, so that az run
// in dst (a private login dir, the az engine's staging dir, a per-session
// dir) uses the same cloud, telemetry and defaults as in src, the user's
// target dir:
//   - config and clouds.config are copied, or removed from dst when src has
//     none;
//   - versionCheck.json and commandIndex.json are copied when dst has
//     none: without the first az looks for a newer version over the
//     network on its first run there, without the second it loads every
//     command module to rebuild the index (az rebuilds an index of another
//     version itself), which made az 2.74's first call in a per-session
//     dir outlast the Azure SDKs' 10-second AzureCLICredential timeout on
//     a busy machine;
//   - the broker is off: on Windows az would hand the tokens to WAM and
//     never write the token cache azkeep reads;
//   - on Linux and macOS token-cache encryption is off: az's encrypted
//     store there is one keyring item shared by every config dir with
//     encryption on (DESIGN.md, "Token-cache encryption"), so az in dst
//     would read and write the cache of the user's dir, refresh tokens
//     included. On Windows the DPAPI file is dst's own and stays.
//
// dst must exist.
func PrepareDir(dst, src string) error {
	for _, name := range []string{ConfigFile, "clouds.config"} {
		if err := copyOrRemove(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	for _, name := range []string{"versionCheck.json", "commandIndex.json"} {
		p := filepath.Join(dst, name)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			if err := copyOrRemove(filepath.Join(src, name), p); err != nil {
				return err
			}
		}
	}
	if err := DisableBroker(dst); err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	return UpdateINI(dst, ConfigFile, func(f *INI) error {
		f.Set("core", "encrypt_token_cache", "false")
		return nil
	})
}

// copyOrRemove makes dst a copy of src, or absent when src is; an equal dst
// is left alone.
func copyOrRemove(src, dst string) error {
	data, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
		return nil
	}
	return fileutil.WriteAtomic(dst, data, fileutil.FilePerm)
}
