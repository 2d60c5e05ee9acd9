//go:build unix

package childproc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/hint"
)

// The test binary doubles as the child: CHILDPROC_HELPER selects a behaviour.
func TestMain(m *testing.M) {
	switch os.Getenv("CHILDPROC_HELPER") {
	case "":
		os.Exit(m.Run())
	case "exit3":
		os.Exit(3)
	case "trap":
		// Report each forwarded signal and exit with 10+signo on INT/TERM/HUP.
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, Forwarded...)
		fmt.Println("ready")
		for s := range ch {
			n := int(s.(syscall.Signal))
			fmt.Println("got", n)
			if s != syscall.SIGWINCH && s != syscall.SIGQUIT {
				os.Exit(10 + n)
			}
		}
	case "selfkill":
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(time.Minute)
	}
	os.Exit(99)
}

func helper(t *testing.T, mode string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "CHILDPROC_HELPER="+mode)
	// Own process group: when go test runs in a terminal's foreground group,
	// the child must still get the signals relayed (see shouldForward).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var e *hint.ExitError
	if !errors.As(err, &e) {
		t.Fatalf("not an ExitError: %v", err)
	}
	return e.Code
}

func TestExitCodePassesThrough(t *testing.T) {
	var pid int
	err := Run(helper(t, "exit3"), func(p int) error { pid = p; return nil })
	if got := exitCode(t, err); got != 3 {
		t.Fatalf("exit %d, want 3", got)
	}
	if pid == 0 {
		t.Fatal("started not called")
	}
	if err := Run(exec.Command("true"), nil); err != nil {
		t.Fatalf("true: %v", err)
	}
}

func TestKilledChildReports128PlusSignal(t *testing.T) {
	if got := exitCode(t, Run(helper(t, "selfkill"), nil)); got != 128+9 {
		t.Fatalf("exit %d, want 137", got)
	}
}

func TestCommandNotFound(t *testing.T) {
	err := Run(exec.Command("azkeep-no-such-command-xyz"), nil)
	if err == nil || hint.Of(err) == "" {
		t.Fatalf("want an error with a hint, got %v", err)
	}
}

// The signals azkeep receives reach the child; azkeep itself survives them.
func TestSignalsReachChild(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := helper(t, "trap")
			// An io.Pipe, not StdoutPipe: Wait (inside Run) closes a
			// StdoutPipe as soon as the child exits, which lost the child's
			// last line now and then; with a plain writer Wait first copies
			// everything the child wrote.
			out, pw := io.Pipe()
			cmd.Stdout = pw
			got := make(chan []string, 1)
			go func() {
				sc := bufio.NewScanner(out)
				var lines []string
				for sc.Scan() {
					lines = append(lines, sc.Text())
					switch len(lines) {
					case 1: // "ready"
						// WINCH and QUIT first: the child reports them and goes on.
						syscall.Kill(os.Getpid(), syscall.SIGWINCH)
						syscall.Kill(os.Getpid(), syscall.SIGQUIT)
					case 3: // both reported: now the terminating one
						syscall.Kill(os.Getpid(), sig)
					}
				}
				got <- lines
			}()
			err := Run(cmd, nil)
			pw.Close()
			if code := exitCode(t, err); code != 10+int(sig) {
				t.Fatalf("exit %d, want %d", code, 10+int(sig))
			}
			lines := <-got
			if len(lines) == 4 {
				// Pending signals arrive in the kernel's order, not ours.
				sort.Strings(lines[1:3])
			}
			want := []string{"ready", "got " + strconv.Itoa(int(syscall.SIGWINCH)), "got " + strconv.Itoa(int(syscall.SIGQUIT)), "got " + strconv.Itoa(int(sig))}
			sort.Strings(want[1:3])
			if fmt.Sprint(lines) != fmt.Sprint(want) {
				t.Fatalf("child saw %v, want %v", lines, want)
			}
		})
	}
}

func TestDirLifecycle(t *testing.T) {
	base := filepath.Join(t.TempDir(), "exec")
	d, err := NewDir(base, "prod")
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
