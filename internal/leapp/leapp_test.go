package leapp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/leapp/leapptest"
)

// TestReadGenerated reads a workspace leapp-core 0.1.143 wrote.
func TestReadGenerated(t *testing.T) {
	g := leapptest.Generate(t, leapptest.TwoTenants(), leapptest.Options{})
	ws, err := Read(g.Dir, leapptest.MachineID)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Version != 5 || len(ws.AzureIntegrations) != 2 || len(ws.Sessions) != 6 {
		t.Fatalf("version %d, %d integrations, %d sessions", ws.Version, len(ws.AzureIntegrations), len(ws.Sessions))
	}
	c, f := ws.AzureIntegrations[0], ws.AzureIntegrations[1]
	if c.Alias != "Contoso Prod" || c.TenantID != "72f988bf-86f1-41af-91ab-2d7cd011db47" || c.Region != "westeurope" || !c.IsOnline {
		t.Errorf("first integration: %+v", c)
	}
	// Leapp gives an integration created without a region its default.
	if f.Alias != "fabrikam" || f.Region != "eastus" {
		t.Errorf("second integration: %+v", f)
	}
	if n, m := len(ws.SessionsOf(c.ID)), len(ws.SessionsOf(f.ID)); n != 3 || m != 2 {
		t.Errorf("sessions: %d and %d", n, m)
	}
	for _, s := range ws.SessionsOf(c.ID) {
		if !strings.HasPrefix(s.SubscriptionID, "0b1f6471-") || s.TenantID != c.TenantID {
			t.Errorf("session %+v", s)
		}
	}
	for _, id := range []string{c.ID, f.ID} {
		for _, item := range []string{profileItem(id), accountItem(id), refreshTokenItem(id)} {
			if g.Items[item] == "" {
				t.Errorf("leapp-core stored no %s", item)
			}
		}
	}
}

// TestMachineIDAsNode checks the key against node-machine-id's own
// machineIdSync() on this machine.
func TestMachineIDAsNode(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("node-machine-id's reading is compared on linux")
	}
	t.Setenv(MachineIDEnv, "")
	id, err := MachineID()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Key(id), leapptest.NodeMachineID(t); got != want {
		t.Fatalf("key %s, node-machine-id %s", got, want)
	}
}

// encrypt is crypto-js's AES.encrypt(text, passphrase), for foreign files.
func encrypt(t *testing.T, plain []byte, passphrase string) []byte {
	salt := make([]byte, 8)
	rand.Read(salt)
	key, iv := evpBytesToKey([]byte(passphrase), salt, 32, aes.BlockSize)
	n := aes.BlockSize - len(plain)%aes.BlockSize
	plain = append(plain, bytes.Repeat([]byte{byte(n)}, n)...)
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
	return []byte(base64.StdEncoding.EncodeToString(append(append([]byte("Salted__"), salt...), ct...)))
}

// TestReadRefuses: every file that is not a readable Leapp workspace is a
// clear one-line error with a hint.
func TestReadRefuses(t *testing.T) {
	g := leapptest.Generate(t, leapptest.TwoTenants(), leapptest.Options{})
	good, err := os.ReadFile(filepath.Join(g.Dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	truncated := good[:len(good)-7]
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(good)))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-17] ^= 0x40 // CBC: flips the last padding byte
	flipped := []byte(base64.StdEncoding.EncodeToString(raw))
	for _, tc := range []struct {
		name, id string
		data     []byte
		want     string
	}{
		{"other machine", "another-machine-id", good, "(written on another machine?)"},
		{"corrupt tail", leapptest.MachineID, flipped, "(written on another machine?)"},
		{"truncated", leapptest.MachineID, truncated, "is not a Leapp workspace"},
		{"plain json", leapptest.MachineID, []byte(`{"_sessions": []}`), "is not a Leapp workspace"},
		{"empty", leapptest.MachineID, nil, "is not a Leapp workspace"},
		{"foreign encrypted", leapptest.MachineID, encrypt(t, []byte(`{"hello": "world"}`), Key(leapptest.MachineID)), "decrypts, but not to a Leapp workspace"},
		{"foreign text", leapptest.MachineID, encrypt(t, []byte("not json"), Key(leapptest.MachineID)), "decrypts, but not to a Leapp workspace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, LockFile), tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Read(dir, tc.id)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || hint.Of(err) == "" {
				t.Fatalf("got %v (hint %q), want %q", err, hint.Of(err), tc.want)
			}
		})
	}
	if _, err := Read(t.TempDir(), leapptest.MachineID); err == nil || !strings.Contains(err.Error(), "no Leapp workspace") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestAliasFor(t *testing.T) {
	taken := map[string]string{}
	for _, tc := range []struct{ alias, id, want string }{
		{"Contoso Prod", "a1", "Contoso-Prod"},
		{"  ünïcode / stuff  ", "a2", "n-code-stuff"},
		{"Contoso/Prod", "a3b4c5d6-e7f8", "Contoso-Prod-a3b4c5d6"},
		{"***", "a4", "leapp"},
		{"Contoso Prod", "a1", "Contoso-Prod"},
	} {
		if got := aliasFor(AzureIntegration{ID: tc.id, Alias: tc.alias}, taken); got != tc.want {
			t.Errorf("aliasFor(%q) = %q, want %q", tc.alias, got, tc.want)
		}
	}
}
