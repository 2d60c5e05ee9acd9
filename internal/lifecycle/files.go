package lifecycle

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// Files is what the procedures need from the Azure CLI's files in a config
// dir. The real implementation (AZFiles) sits on internal/azconfig; the
// procedures see only these steps, so each reads like the seed.
type Files interface {
	// ReadLogin reads what `az login` left in a private login dir: the
	// signed-in account, its refresh token and the profile's subscriptions
	// (seed, login steps 3–4).
	ReadLogin(dir string) (*LoginData, error)
	// WriteProfile writes azureProfile.json with sub alone, as the default
	// subscription, keeping the file's installationId (start step 2). It
	// also records the subscription as the cloud's active one in
	// clouds.config, as `az account set` does.
	WriteProfile(dir string, cloudName string, sub json.RawMessage) error
	// PutCredentials writes the account entry and the refresh-token entry
	// into the token cache after dropping the account's access tokens,
	// keeping every other entry: what `az account list --refresh` needs
	// in a sync's private dir (the engines take the refresh token from the
	// vault instead, engine.Request).
	PutCredentials(dir string, account, refreshToken json.RawMessage) error
	// TakeRefreshToken returns the account's refresh-token entry from the
	// cache and removes it from the file: a token left in a dir by a
	// crash or a refusing vault, recovered before the next redemption or
	// rescued before az logout.
	TakeRefreshToken(dir string, homeAccountID string) (json.RawMessage, error)
	// SetLocation writes `[defaults] location` in the dir's config (start
	// step 9); an empty location leaves the file alone.
	SetLocation(dir string, location string) error
	// OtherLogins names the accounts, other than homeAccountID, whose
	// refresh tokens rest in dir's token cache: an `az login` of the
	// user's own that azkeep does not manage.
	OtherLogins(dir string, homeAccountID string) ([]string, error)
	// LoginDirConfig prepares a fresh private login dir: copies of the
	// target's config and clouds.config, with what a private login needs
	// (e.g. the Windows WAM broker switched off).
	LoginDirConfig(loginDir, targetDir string) error
}

// LoginData is what one `az login` produced.
type LoginData struct {
	// Account is the MSAL cache's Account entry, as stored.
	Account json.RawMessage
	// RefreshToken is the MSAL cache's RefreshToken entry, as stored.
	RefreshToken json.RawMessage
	// HomeAccountID is "<uid>.<utid>"; Username the sign-in name;
	// TenantID the account's realm (the tenant's GUID).
	HomeAccountID, Username, TenantID string
	// Subscriptions are azureProfile.json's subscriptions of this login,
	// each kept whole (unknown fields included).
	Subscriptions []Subscription
}

// Subscription is one subscription of a profile: the fields azkeep reads
// and the raw object it writes back.
type Subscription struct {
	ID, Name, TenantID string
	Raw                json.RawMessage
}

// Vault items, per integration: the seed's three ("refresh token, account,
// and profile") and the parked tokens of recently stopped sessions
// (itemParked, park.go).
const (
	itemRefreshToken = "refresh-token"
	itemAccount      = "account"
	itemProfile      = "profile"
)

// VaultKey is the vault key of one of an integration's items.
func VaultKey(integrationID, item string) string { return integrationID + "/" + item }

// VaultKeys are the keys of the seed's three items of an integration (the
// parked tokens, itemParked, come and go with stops and starts).
func VaultKeys(integrationID string) []string {
	return []string{
		VaultKey(integrationID, itemRefreshToken),
		VaultKey(integrationID, itemAccount),
		VaultKey(integrationID, itemProfile),
	}
}

// profileItem is the vault's profile item: the integration's subscriptions
// as azureProfile.json holds them.
type profileItem struct {
	Subscriptions []json.RawMessage `json:"subscriptions"`
}

// snapshotFiles are the files in a config dir a start or rotation may
// change; on failure they are put back as they were.
var snapshotFiles = []string{
	"azureProfile.json",
	"msal_token_cache.json",
	"msal_token_cache.bin",
	"config",
	"clouds.config",
	"msal_http_cache.bin",
}

// snapshot is the content of a dir's files before a change.
type snapshot struct {
	dir   string
	files map[string]*fileCopy // nil: the file did not exist
}

type fileCopy struct {
	data []byte
	perm fs.FileMode
}

func takeSnapshot(dir string) (*snapshot, error) {
	s := &snapshot{dir: dir, files: map[string]*fileCopy{}}
	for _, name := range snapshotFiles {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			s.files[name] = nil
			continue
		}
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		s.files[name] = &fileCopy{data: data, perm: fi.Mode().Perm()}
	}
	return s, nil
}

// restore puts every file back (atomically) and removes those that did
// not exist. It returns the first error but tries every file.
func (s *snapshot) restore() error {
	var first error
	for name, c := range s.files {
		p := filepath.Join(s.dir, name)
		var err error
		if c == nil {
			err = os.Remove(p)
			if errors.Is(err, fs.ErrNotExist) {
				err = nil
			}
		} else {
			err = fileutil.WriteAtomic(p, c.data, c.perm)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
