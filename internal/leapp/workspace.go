// Package leapp reads what Leapp (github.com/Noovolari/leapp) leaves on a
// machine, so its users can move to azkeep without a new login: the
// workspace file ~/.Leapp/Leapp-lock.json that @noovolari/leapp-core 0.1.x
// writes, and the Azure integrations' items in the OS keychain (keytar,
// service "Leapp"). It only reads: nothing of Leapp's is ever changed.
//
// The workspace is JSON encrypted by crypto-js's AES with a passphrase that
// is the sha256 hex of the OS machine id (node-machine-id's
// machineIdSync()); see crypt.go and machineid.go.
package leapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/azkeep/azkeep/internal/hint"
)

// LockFile is the workspace file's name in Leapp's dir (~/.Leapp).
const LockFile = "Leapp-lock.json"

// Workspace is what azkeep takes from a Leapp workspace.
type Workspace struct {
	// Version is Leapp's workspace version (5 for leapp-core 0.1.143).
	Version           int
	AzureIntegrations []AzureIntegration
	Sessions          []Session
}

// AzureIntegration is one of Leapp's Azure integrations: a tenant the user
// signs in to, as azkeep's integrations are.
type AzureIntegration struct {
	ID       string `json:"id"`
	Alias    string `json:"alias"`
	TenantID string `json:"tenantId"`
	// Region is the Azure location Leapp sets as az's default.
	Region   string `json:"region"`
	IsOnline bool   `json:"isOnline"`
}

// Session is one of Leapp's sessions, of any provider.
type Session struct {
	ID   string `json:"sessionId"`
	Name string `json:"sessionName"`
	// Type is "azure" for Azure sessions; AWS ones are "awsIamUser",
	// "awsIamRoleFederated", "awsIamRoleChained", "awsSsoRole".
	Type               string `json:"type"`
	Region             string `json:"region"`
	SubscriptionID     string `json:"subscriptionId"`
	TenantID           string `json:"tenantId"`
	AzureIntegrationID string `json:"azureIntegrationId"`
}

// SessionTypeAzure is the type of Leapp's Azure sessions.
const SessionTypeAzure = "azure"

// fileShape is the workspace JSON as class-transformer serialises
// leapp-core's Workspace class: its fields under their private names.
type fileShape struct {
	Version           *int               `json:"_workspaceVersion"`
	Sessions          []Session          `json:"_sessions"`
	AzureIntegrations []AzureIntegration `json:"_azureIntegrations"`
}

// Read reads and decrypts the workspace in dir (Leapp's ~/.Leapp) with the
// key of the machine whose raw id is machineID.
func Read(dir, machineID string) (*Workspace, error) {
	path := filepath.Join(dir, LockFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, hint.New(fmt.Errorf("no Leapp workspace in %s (%s is missing)", dir, LockFile), "pass the dir Leapp keeps its files in with --dir (default ~/.Leapp)")
	}
	if err != nil {
		return nil, fmt.Errorf("read Leapp's workspace: %w", err)
	}
	return parse(path, data, machineID)
}

func parse(path string, data []byte, machineID string) (*Workspace, error) {
	plain, err := decrypt(data, Key(machineID))
	switch {
	case errors.Is(err, errNotEncrypted):
		return nil, hint.New(fmt.Errorf("%s is not a Leapp workspace, or is damaged: it is not the encrypted file Leapp writes", path),
			"pass the dir Leapp keeps its files in with --dir (default ~/.Leapp)")
	case errors.Is(err, errWrongKey):
		return nil, hint.New(fmt.Errorf("cannot decrypt %s with this machine's id (written on another machine?)", path),
			"run the import on the machine Leapp ran on, or set "+MachineIDEnv+" to that machine's id (/etc/machine-id there)")
	case err != nil:
		return nil, fmt.Errorf("decrypt %s: %w", path, err)
	}
	var f fileShape
	if err := json.Unmarshal(plain, &f); err != nil || f.Version == nil {
		return nil, hint.New(fmt.Errorf("%s decrypts, but not to a Leapp workspace", path),
			"check the file is Leapp's own Leapp-lock.json (Leapp 0.1.x, leapp-core workspace version 5)")
	}
	return &Workspace{Version: *f.Version, AzureIntegrations: f.AzureIntegrations, Sessions: f.Sessions}, nil
}

// SessionsOf are the Azure sessions of the integration with id.
func (w *Workspace) SessionsOf(id string) []Session {
	var out []Session
	for _, s := range w.Sessions {
		if s.Type == SessionTypeAzure && s.AzureIntegrationID == id {
			out = append(out, s)
		}
	}
	return out
}
