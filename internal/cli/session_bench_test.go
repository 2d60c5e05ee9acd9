package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/azkeep/azkeep/internal/workspace/workspacetest"
)

// TestFillBenchState writes the 10,000-session state into
// $AZKEEP_BENCH_HOME, for timing the binary:
//
//	AZKEEP_BENCH_HOME=/tmp/sl/home go test -run TestFillBenchState ./internal/cli/
//	hyperfine -N 'azkeep --home /tmp/sl/home --config-dir /tmp/sl/az session list'
func TestFillBenchState(t *testing.T) {
	home := os.Getenv("AZKEEP_BENCH_HOME")
	if home == "" {
		t.Skip("AZKEEP_BENCH_HOME not set")
	}
	workspacetest.Fill(t, home, 10000, 10)
}

// BenchmarkSessionList10k is `azkeep session list` (the whole command:
// lazy rotation check, load, table or JSON) over 10,000 sessions.
func BenchmarkSessionList10k(b *testing.B) {
	home := filepath.Join(b.TempDir(), "home")
	workspacetest.Fill(b, home, 10000, 10)
	target := filepath.Join(b.TempDir(), "az")
	for _, output := range []string{"table", "json"} {
		b.Run(output, func(b *testing.B) {
			for b.Loop() {
				var errb bytes.Buffer
				code := Main([]string{"--home", home, "--config-dir", target, "session", "list", "--output", output}, IO{In: eofReader{}, Out: io.Discard, Err: &errb})
				if code != 0 {
					b.Fatalf("exit %d: %s", code, errb.String())
				}
			}
		})
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
