//go:build unix

package sessiondir

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestDirLifecycle(t *testing.T) {
	base := filepath.Join(t.TempDir(), "exec")
	d, err := New(base, "prod")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, d.Path} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v %v", p, fi.Mode(), err)
		}
	}
	if err := d.SetChild(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	procs, err := readOwner(filepath.Join(d.Path, OwnerFile))
	if err != nil || len(procs) != 2 || procs[0].pid != os.Getpid() {
		t.Fatalf("owner %v %v", procs, err)
	}
	// Owned by a live process: kept.
	if removed, err := Sweep(base); err != nil || len(removed) != 0 {
		t.Fatalf("sweep removed %v, %v", removed, err)
	}
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir still there: %v", err)
	}
}

func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func writeOwnerFile(t *testing.T, dir string, lines string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, OwnerFile), []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSweep(t *testing.T) {
	base := t.TempDir()
	me := self()
	dead := deadPid(t)
	cases := map[string]struct {
		owner string // "" = no owner file
		old   bool
		kept  bool
	}{
		"dead-azkeep":                 {owner: fmt.Sprintf("%d x\n", dead), kept: false},
		"dead-azkeep-live-child":      {owner: fmt.Sprintf("%d x\n%d %s\n", dead, me.pid, me.start), kept: true},
		"live-azkeep":                 {owner: fmt.Sprintf("%d %s\n", me.pid, me.start), kept: true},
		"reused-pid":                  {owner: fmt.Sprintf("%d 1\n", me.pid), kept: me.start == ""},
		"no-owner-young":              {kept: true},
		"no-owner-old":                {old: true, kept: false},
		"garbage-owner-old":           {owner: "not a pid\n", old: true, kept: false},
		"dead-azkeep-and-child":       {owner: fmt.Sprintf("%d\n%d\n", dead, dead), kept: false},
		"live-azkeep-without-a-start": {owner: fmt.Sprintf("%d\n", me.pid), kept: true},
	}
	for name, c := range cases {
		dir := filepath.Join(base, name)
		if c.owner != "" {
			writeOwnerFile(t, dir, c.owner)
		} else if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if c.old {
			old := time.Now().Add(-time.Hour)
			os.Chtimes(dir, old, old)
		}
	}
	os.WriteFile(filepath.Join(base, "a-file"), nil, 0o600)
	if _, err := Sweep(base); err != nil {
		t.Fatal(err)
	}
	for name, c := range cases {
		_, err := os.Stat(filepath.Join(base, name))
		if kept := err == nil; kept != c.kept {
			t.Errorf("%s: kept=%v, want %v", name, kept, c.kept)
		}
	}
	if _, err := os.Stat(filepath.Join(base, "a-file")); err != nil {
		t.Error("sweep touched a plain file")
	}
	if removed, err := Sweep(filepath.Join(base, "missing")); err != nil || removed != nil {
		t.Fatalf("missing base: %v %v", removed, err)
	}
}
