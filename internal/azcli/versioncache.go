package azcli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// VersionCacheFile is the file under Options.StateDir that remembers a
// checked az version, so that each azkeep command does not pay for a
// `az version` run (1–3 s, several times a cached get-access-token).
const VersionCacheFile = "az-version.json"

// versionTTL bounds how long a remembered version is trusted.
const versionTTL = 24 * time.Hour

// versionStamp identifies the az install a version was read from: an
// upgrade replaces the az script (new size or mtime) or, with Homebrew,
// changes where the az symlink points.
type versionStamp struct {
	Path     string    `json:"path"`
	RealPath string    `json:"real_path"`
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"mod_time"`
	Version  string    `json:"version"`
	Checked  time.Time `json:"checked"`
}

func stampOf(path string) (versionStamp, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return versionStamp{}, false
	}
	st, err := os.Stat(real)
	if err != nil {
		return versionStamp{}, false
	}
	return versionStamp{Path: path, RealPath: real, Size: st.Size(), ModTime: st.ModTime().UTC()}, true
}

// cachedVersion returns the remembered version of the az at path, if the
// install is unchanged and the entry is fresh.
func (r *Runner) cachedVersion(path string) (string, bool) {
	if r.opts.StateDir == "" {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(r.opts.StateDir, VersionCacheFile))
	if err != nil {
		return "", false
	}
	var saved versionStamp
	if json.Unmarshal(b, &saved) != nil {
		return "", false
	}
	now, ok := stampOf(path)
	if !ok || saved.Path != now.Path || saved.RealPath != now.RealPath || saved.Size != now.Size ||
		!saved.ModTime.Equal(now.ModTime) || time.Since(saved.Checked) > versionTTL || time.Since(saved.Checked) < 0 {
		return "", false
	}
	if compareVersions(saved.Version, MinVersion) < 0 {
		return "", false
	}
	return saved.Version, true
}

// rememberVersion records a version that passed the check (best effort).
func (r *Runner) rememberVersion(path, version string) {
	if r.opts.StateDir == "" {
		return
	}
	s, ok := stampOf(path)
	if !ok {
		return
	}
	s.Version, s.Checked = version, time.Now().UTC()
	b, err := json.Marshal(s)
	if err != nil {
		return
	}
	if os.MkdirAll(r.opts.StateDir, fileutil.DirPerm) == nil {
		_ = fileutil.WriteAtomic(filepath.Join(r.opts.StateDir, VersionCacheFile), b, fileutil.FilePerm)
	}
}
