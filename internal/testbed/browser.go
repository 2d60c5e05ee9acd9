package testbed

import (
	"os"
	"path/filepath"
	"testing"
)

// browserScript is a stand-in for the user's web browser: az (through
// Python's webbrowser, which runs $BROWSER and waits for it) hands it the
// sign-in URL; it detaches at once, fetches the URL through the emulator
// (HTTPS_PROXY, REQUESTS_CA_BUNDLE from az's environment), and follows the
// emulator's redirect to az's loopback listener with the code, as a browser
// would after the user picked an account.
const browserScript = `#!/usr/bin/env python3
import os, ssl, sys, urllib.request
if os.fork() != 0:
    sys.exit(0)
log = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser.log")
try:
    ctx = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE"))
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx))
    with opener.open(sys.argv[1], timeout=60) as r:
        r.read()
    msg = "ok\n"
except Exception as e:  # noqa: BLE001 - reported to the log for the test
    msg = "error: %s\n" % e
with open(log, "a") as f:
    f.write(msg)
os._exit(0)
`

// WriteBrowser writes the stand-in browser into dir and returns its path;
// set BROWSER to it so `az login` (no --use-device-code) takes the browser
// (authorization code + PKCE) flow against the emulator. Its outcome is
// appended to browser.log next to it.
func WriteBrowser(dir string) (string, error) {
	p := filepath.Join(dir, "browser.py")
	if err := os.WriteFile(p, []byte(browserScript), 0o700); err != nil {
		return "", err
	}
	return p, nil
}

// BrowserEnv returns "BROWSER=<stand-in browser>" for AZWithEnv, so a plain
// `az login --tenant T` signs in through the emulator's authorize endpoint
// with no display and no user. Needs python3 (az's own dependency).
func BrowserEnv(t testing.TB) []string {
	t.Helper()
	p, err := WriteBrowser(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return []string{"BROWSER=" + p}
}
