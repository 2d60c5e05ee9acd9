//go:build unix

package childproc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
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
		signal.Notify(ch, forwardedSignals...)
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
	var e *ExitError
	if !errors.As(err, &e) {
		t.Fatalf("not an ExitError: %v", err)
	}
	return e.Code
}

func TestExitCodePassesThrough(t *testing.T) {
	var pid int
	err := Run(helper(t, "exit3"), func(p int) error { pid = p; return nil }, nil)
	if got := exitCode(t, err); got != 3 {
		t.Fatalf("exit %d, want 3", got)
	}
	if pid == 0 {
		t.Fatal("started not called")
	}
	if err := Run(exec.Command("true"), nil, nil); err != nil {
		t.Fatalf("true: %v", err)
	}
}

// A failing started callback is a warning on the stream azkeep was given
// (it went to os.Stderr, bypassing the injected streams), and the child
// still runs to its end.
func TestExitErrorText(t *testing.T) {
	for code, want := range map[int]string{0: "exit status 0", 3: "exit status 3", 130: "exit status 130", -1: "exit status -1"} {
		if got := (&ExitError{Code: code}).Error(); got != want {
			t.Errorf("%d: %q", code, got)
		}
	}
}

func TestStartedFailureWarnsOnTheGivenStream(t *testing.T) {
	var warn bytes.Buffer
	err := Run(helper(t, "exit3"), func(int) error { return errors.New("cannot record the child") }, &warn)
	if got := exitCode(t, err); got != 3 {
		t.Fatalf("exit %d, want 3", got)
	}
	if warn.String() != "azkeep: warning: cannot record the child\n" {
		t.Fatalf("warning %q", warn.String())
	}
}

func TestKilledChildReports128PlusSignal(t *testing.T) {
	if got := exitCode(t, Run(helper(t, "selfkill"), nil, nil)); got != 128+9 {
		t.Fatalf("exit %d, want 137", got)
	}
}

func TestCommandNotFound(t *testing.T) {
	err := Run(exec.Command("azkeep-no-such-command-xyz"), nil, nil)
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
			err := Run(cmd, nil, nil)
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
