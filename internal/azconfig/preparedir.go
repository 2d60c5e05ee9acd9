package azconfig

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// PrepareDir gives the config dir dst the settings of src, so that az run
// in dst (a private login dir, the az engine's staging dir, a per-session
// dir) uses the same cloud, telemetry and defaults as in src, the user's
// target dir:
//   - config and clouds.config are copied, or removed from dst when src has
//     none;
//   - versionCheck.json is copied when dst has none: without it az looks
//     for a newer version over the network on its first run there;
//   - the broker is off: on Windows az would hand the tokens to WAM and
//     never write the token cache azkeep reads.
//
// dst must exist.
func PrepareDir(dst, src string) error {
	for _, name := range []string{ConfigFile, "clouds.config"} {
		if err := copyOrRemove(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	vc := filepath.Join(dst, "versionCheck.json")
	if _, err := os.Stat(vc); errors.Is(err, fs.ErrNotExist) {
		if err := copyOrRemove(filepath.Join(src, "versionCheck.json"), vc); err != nil {
			return err
		}
	}
	return DisableBroker(dst)
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
