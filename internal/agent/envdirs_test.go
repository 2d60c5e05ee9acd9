package agent

import (
	"os"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/workspace"
)

func TestPruneEnvDirs(t *testing.T) {
	home := t.TempDir()
	st := &workspace.State{
		Integrations: []workspace.Integration{{ID: "on", Status: workspace.Online}, {ID: "off", Status: workspace.Offline}, {ID: "nl", Status: workspace.NeedsLogin}},
		Sessions:     []workspace.Session{{ID: "s-on", IntegrationID: "on"}, {ID: "s-off", IntegrationID: "off"}, {ID: "s-nl", IntegrationID: "nl"}},
	}
	for _, id := range []string{"s-on", "s-off", "s-nl", "s-gone"} {
		dir := sessiondir.PersistentDir(home, id)
		os.MkdirAll(dir, 0o700)
		sessiondir.WriteMarker(dir, sessiondir.Marker{SessionID: id, ExpiresAt: time.Now().Add(time.Hour)})
	}
	removed := PruneEnvDirs(st, home)
	if len(removed) != 2 {
		t.Fatalf("removed %v, want the logged-out integration's and the vanished session's", removed)
	}
	for id, kept := range map[string]bool{"s-on": true, "s-nl": true, "s-off": false, "s-gone": false} {
		_, err := os.Stat(sessiondir.PersistentDir(home, id))
		if (err == nil) != kept {
			t.Errorf("%s: kept=%v, want %v", id, err == nil, kept)
		}
	}
}
