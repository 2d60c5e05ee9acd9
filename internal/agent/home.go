package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
)

// Files in azkeep's home.
const (
	LockFile   = "agent.lock"
	StatusFile = "agent.json"
	LogFile    = "agent.log"
)

// Lock takes the home's agent lock: one agent per AZKEEP_HOME. It fails at
// once with ErrRunning when another agent holds it. The lock is an flock,
// so it dies with its process (no stale lock after a crash).
func Lock(home string) (unlock func(), err error) {
	u, err := fileutil.LockTimeout(filepath.Join(home, LockFile), 50*time.Millisecond)
	if err != nil {
		return nil, hint.New(ErrRunning, "see azkeep agent status; stop the other agent first")
	}
	return func() { u() }, nil
}

// Running reports whether an agent holds home's lock.
func Running(home string) bool {
	if _, err := os.Stat(filepath.Join(home, LockFile)); errors.Is(err, fs.ErrNotExist) {
		return false
	}
	unlock, err := Lock(home)
	if err != nil {
		return true
	}
	unlock()
	return false
}

// StatusRecord is agent.json: what the running agent last scheduled.
type StatusRecord struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Window  string    `json:"window"`
	Status
}

// WriteStatus writes rec to home's agent.json atomically (0600). It holds
// no secret: session ids, labels and times.
func WriteStatus(home string, rec StatusRecord) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return fileutil.WriteAtomic(filepath.Join(home, StatusFile), append(data, '\n'), fileutil.FilePerm)
}

// ReadStatus reads home's agent.json; a missing file is (nil, nil).
func ReadStatus(home string) (*StatusRecord, error) {
	data, err := os.ReadFile(filepath.Join(home, StatusFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec StatusRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(home, StatusFile), err)
	}
	return &rec, nil
}
