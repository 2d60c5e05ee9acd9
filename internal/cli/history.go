package cli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

// historyFile remembers, per config dir, the session started there last
// and the one before it, for `azkeep session start -` (as `cd -`). It is
// not part of the state file: losing it loses only the shortcut.
const historyFile = "history.json"

type startHistory struct {
	Current  string `json:"current"`
	Previous string `json:"previous,omitempty"`
}

func readHistory(home string) map[string]startHistory {
	h := map[string]startHistory{}
	if b, err := os.ReadFile(filepath.Join(home, historyFile)); err == nil {
		_ = json.Unmarshal(b, &h) // a damaged file is a lost shortcut, no more
	}
	return h
}

// previousSession is the session started in dir before the last one.
func previousSession(home, dir string) (string, error) {
	if p := readHistory(home)[workspace.CleanDir(dir)].Previous; p != "" {
		return p, nil
	}
	return "", hint.New(errors.New("no previous session in "+workspace.CleanDir(dir)), "start one by name: azkeep session start SESSION")
}

// recordStart notes that session id was started in dir.
func recordStart(home, dir, id string) error {
	h := readHistory(home)
	key := workspace.CleanDir(dir)
	e := h[key]
	if e.Current != id {
		e.Previous, e.Current = e.Current, id
	}
	h[key] = e
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	// Not fsynced: losing the last switch to a power cut costs only
	// `session start -`'s memory of it.
	return fileutil.Replace(filepath.Join(home, historyFile), append(b, '\n'), fileutil.FilePerm)
}
