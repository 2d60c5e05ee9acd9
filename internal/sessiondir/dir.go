// Package sessiondir keeps the private AZURE_CONFIG_DIRs azkeep makes per
// session: the short-lived ones of `azkeep exec` (an owner file names the
// processes using each, and a sweep removes the ones a killed azkeep left
// behind) and the persistent ones of `azkeep env` (a marker records which
// session each holds and when its access token expires; Refresh renews it).
package sessiondir

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// OwnerFile is the file in each per-session dir that names the processes
// using it: azkeep, then its child. The sweep removes a dir once none of
// them is alive.
const OwnerFile = "azkeep.owner"

// orphanAge is how old a dir without a readable owner file must be before
// the sweep takes it for the leftover of a crash between mkdir and write.
const orphanAge = time.Minute

// Dir is a private per-session AZURE_CONFIG_DIR made for one exec.
type Dir struct {
	Path  string
	owner []proc
}

type proc struct {
	pid   int
	start string // process start time where the OS tells it; guards pid reuse
}

// New creates base (0700) if needed and a fresh 0700 dir in it named
// prefix-<random>, owned by this process.
func New(base, prefix string) (*Dir, error) {
	if err := os.MkdirAll(base, fileutil.DirPerm); err != nil {
		return nil, fmt.Errorf("create %s: %w", base, err)
	}
	path, err := os.MkdirTemp(base, prefix+"-")
	if err != nil {
		return nil, fmt.Errorf("create a per-session dir in %s: %w", base, err)
	}
	if err := os.Chmod(path, fileutil.DirPerm); err != nil {
		os.RemoveAll(path)
		return nil, err
	}
	d := &Dir{Path: path, owner: []proc{self()}}
	if err := d.writeOwner(); err != nil {
		os.RemoveAll(path)
		return nil, err
	}
	return d, nil
}

// SetChild records the child's pid, so the dir outlives a SIGKILLed azkeep
// for as long as its child still runs.
func (d *Dir) SetChild(pid int) error {
	d.owner = append(d.owner[:1], proc{pid: pid, start: startTime(pid)})
	return d.writeOwner()
}

// Remove deletes the dir and everything in it.
func (d *Dir) Remove() error {
	return os.RemoveAll(d.Path)
}

func (d *Dir) writeOwner() error {
	var b strings.Builder
	for _, p := range d.owner {
		fmt.Fprintf(&b, "%d %s\n", p.pid, p.start)
	}
	return fileutil.WriteAtomic(filepath.Join(d.Path, OwnerFile), []byte(b.String()), fileutil.FilePerm)
}

func self() proc {
	pid := os.Getpid()
	return proc{pid: pid, start: startTime(pid)}
}

// Sweep removes the dirs under base whose owners are all gone: the ones an
// azkeep killed with SIGKILL (or a crash, or a power cut) could not remove.
// It returns the paths removed. A missing base is not an error.
func Sweep(base string) ([]string, error) {
	left, err := Stale(base)
	var removed []string
	var errs []error
	for _, path := range left {
		if err := os.RemoveAll(path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, path)
	}
	return removed, errors.Join(append(errs, err)...)
}

// Stale lists the dirs under base whose owners are all gone (see Sweep).
// A missing base is not an error.
func Stale(base string) ([]string, error) {
	entries, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if path := filepath.Join(base, e.Name()); stale(path) {
			out = append(out, path)
		}
	}
	return out, nil
}

func stale(dir string) bool {
	procs, err := readOwner(filepath.Join(dir, OwnerFile))
	if err != nil || len(procs) == 0 {
		info, err := os.Stat(dir)
		return err == nil && time.Since(info.ModTime()) > orphanAge
	}
	for _, p := range procs {
		if alive(p) {
			return false
		}
	}
	return true
}

func readOwner(path string) ([]proc, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var procs []proc
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		pid, err := strconv.Atoi(fields[0])
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("bad owner line %q", sc.Text())
		}
		p := proc{pid: pid}
		if len(fields) > 1 {
			p.start = fields[1]
		}
		procs = append(procs, p)
	}
	return procs, sc.Err()
}

// alive reports whether p still runs; a pid now used by a process started
// at another time is a different process.
func alive(p proc) bool {
	if !pidAlive(p.pid) {
		return false
	}
	if p.start == "" {
		return true
	}
	now := startTime(p.pid)
	return now == "" || now == p.start
}
