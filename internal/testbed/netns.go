package testbed

import (
	"os"
	"os/exec"
	"testing"
)

// netnsEnv marks the run of a test inside its loopback-only namespace.
const netnsEnv = "AZKEEP_TEST_IN_NETNS"

// InLoopbackNetns makes the test run in a network namespace that has
// loopback only (unshare -n, ip link set lo up), for clients that probe
// the instance-metadata address 169.254.169.254 (DefaultAzureCredential):
// the probe fails at once and nothing leaves the machine. Called in the
// test process, it runs this test again in such a namespace (this test
// binary, with env added), reports its output and result, and returns
// false: the caller returns. In that run it returns true: the caller does
// the test's work. Without unshare, ip or root the test skips, and fails
// under CI=true.
func InLoopbackNetns(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == "1" {
		return true
	}
	unshare, err1 := exec.LookPath("unshare")
	_, err2 := exec.LookPath("ip")
	Require(t, err1 == nil && err2 == nil && os.Geteuid() == 0, "unshare -n and ip as root (a loopback-only network namespace)")
	cmd := exec.Command(unshare, "-n", "sh", "-c", `ip link set lo up && exec "$0" "$@"`,
		os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(append(os.Environ(), netnsEnv+"=1"), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("in a loopback-only network namespace:\n%s", out)
	if err != nil {
		t.Errorf("the test in the namespace: %v", err)
	}
	return false
}
