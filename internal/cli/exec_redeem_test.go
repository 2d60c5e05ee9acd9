package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/sessiondir"
)

// The refresh token never touches the per-session dir: the procedure runs
// in a scratch dir (where, as in the seed, the token is put into the cache
// and stripped again) and only its result is copied over.
func TestRedeemAsideNeverWritesTheRefreshTokenIntoDest(t *testing.T) {
	home := t.TempDir()
	base := execBase(home)
	d, err := sessiondir.New(base, "s")
	if err != nil {
		t.Fatal(err)
	}
	dest := d.Path
	os.WriteFile(filepath.Join(dest, "config"), []byte("[core]\ncollect_telemetry = no\n"), 0o600)
	ownerBefore, _ := os.ReadFile(filepath.Join(dest, sessiondir.OwnerFile))

	var scratchSeen string
	mat, err := redeemAside(context.Background(), base, dest, func(ctx context.Context, dir string) (*lifecycle.Materialized, error) {
		scratchSeen = dir
		if dir == dest {
			t.Fatal("materialised straight into the per-session dir")
		}
		if data, _ := os.ReadFile(filepath.Join(dir, "config")); !strings.Contains(string(data), "collect_telemetry") {
			t.Error("the scratch dir lacks the dir's settings")
		}
		cache := filepath.Join(dir, "msal_token_cache.json")
		// seed, start step 3 then step 8: in, redeemed, out.
		os.WriteFile(cache, []byte(`{"RefreshToken": {"k": {"secret": "RT-SECRET"}}}`), 0o600)
		os.WriteFile(cache, []byte(`{"AccessToken": {"k": {"secret": "AT"}}, "RefreshToken": {}}`), 0o600)
		os.WriteFile(filepath.Join(dir, "azureProfile.json"), []byte("\ufeff{}"), 0o600)
		return &lifecycle.Materialized{ConfigDir: dir}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if mat.ConfigDir != dest {
		t.Errorf("ConfigDir %s, want %s", mat.ConfigDir, dest)
	}
	if _, err := os.Stat(scratchSeen); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("scratch dir left: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(dest, "msal_token_cache.json"))
	if !strings.Contains(string(got), `"AT"`) || strings.Contains(string(got), "RT-SECRET") {
		t.Errorf("dest cache: %s", got)
	}
	if _, err := os.Stat(filepath.Join(dest, "azureProfile.json")); err != nil {
		t.Error("profile not copied")
	}
	if owner, _ := os.ReadFile(filepath.Join(dest, sessiondir.OwnerFile)); string(owner) != string(ownerBefore) {
		t.Error("the dir's owner file was overwritten")
	}
	for _, name := range []string{"msal_token_cache.json", "azureProfile.json"} {
		if fi, _ := os.Stat(filepath.Join(dest, name)); fi == nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s not 0600", name)
		}
	}

	// A failure leaves dest as it was and no scratch dir.
	cachePath := filepath.Join(dest, "msal_token_cache.json")
	before, _ := os.ReadFile(cachePath)
	_, err = redeemAside(context.Background(), base, dest, func(ctx context.Context, dir string) (*lifecycle.Materialized, error) {
		os.WriteFile(filepath.Join(dir, "msal_token_cache.json"), []byte(`{"RefreshToken": {"k": {"secret": "RT-SECRET"}}}`), 0o600)
		return nil, errors.New("invalid_grant")
	})
	if err == nil {
		t.Fatal("error lost")
	}
	if after, _ := os.ReadFile(cachePath); string(after) != string(before) {
		t.Error("a failed redemption changed the per-session dir")
	}
	entries, _ := os.ReadDir(base)
	if len(entries) != 1 {
		t.Errorf("dirs under %s: %v (want the exec dir only)", base, entries)
	}
}
