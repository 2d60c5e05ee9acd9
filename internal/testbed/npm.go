package testbed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// NPMModules returns a node_modules dir holding the packages of the
// package.json at pkgPath (a test's pinned real clients: leapp-core,
// @azure/identity), installing them from npm on first use into a cache dir
// named after the file's hash, outside the repository and shared by test
// processes under a lock. It skips the test when node or npm is missing,
// and fails it under CI=true (scripts/test.sh installs them).
func NPMModules(t testing.TB, pkgPath, what string) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		Require(t, lookPath(tool), tool+" (nodejs, npm), for "+what)
	}
	pkg, err := os.ReadFile(pkgPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pkg)
	dir := filepath.Join(os.TempDir(), "azkeep-npm-"+hex.EncodeToString(sum[:6]))
	modules := filepath.Join(dir, "node_modules")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	unlock, err := fileutil.Lock(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	done := filepath.Join(dir, ".installed")
	if _, err := os.Stat(done); err == nil {
		return modules
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), pkg, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "npm", "install", "--legacy-peer-deps", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install of %s: %v\n%s", what, err, out)
	}
	t.Logf("installed %s from npm into %s in %s", what, dir, time.Since(start).Round(time.Millisecond))
	if err := os.WriteFile(done, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return modules
}

func lookPath(name string) bool {
	_, err := exec.LookPath(name)
	return err == nil
}
