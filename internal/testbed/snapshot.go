package testbed

import (
	"io/fs"
	"os"
	"path/filepath"
)

// DirSnapshot returns the content of dir's regular files, keyed by their
// slash-separated path relative to dir: the top level only, or the whole
// tree when deep. Two snapshots compare equal when nothing was written.
func DirSnapshot(dir string, deep bool) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && !deep {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	return out, err
}
