package azconfig

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// INI is an Azure CLI INI file (config, clouds.config) edited line by line:
// comments, blank lines, order and untouched values stay as they are,
// where Python's configparser (which az uses) would drop comments. Keys are
// case-insensitive and sections case-sensitive, as in configparser.
type INI struct {
	lines []string
	// noFinalNewline is true when the file did not end with a newline.
	noFinalNewline bool
}

// ParseINI reads an INI file's content (a UTF-8 BOM is skipped).
func ParseINI(data []byte) *INI {
	data = bytes.TrimPrefix(data, bom)
	f := &INI{}
	if len(data) == 0 {
		return f
	}
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	f.noFinalNewline = !strings.HasSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\n")
	f.lines = strings.Split(s, "\n")
	return f
}

// LoadINI reads the INI file at path; a missing file is empty.
func LoadINI(path string) (*INI, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &INI{}, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseINI(data), nil
}

// Bytes returns the file content.
func (f *INI) Bytes() []byte {
	if len(f.lines) == 0 {
		return nil
	}
	s := strings.Join(f.lines, "\n")
	if !f.noFinalNewline {
		s += "\n"
	}
	return []byte(s)
}

func sectionName(line string) (string, bool) {
	t := strings.TrimSpace(line)
	if len(t) >= 2 && t[0] == '[' && strings.HasSuffix(t, "]") && line[0] == '[' {
		return t[1 : len(t)-1], true
	}
	return "", false
}

// option splits "key = value" / "key: value"; continuation lines
// (indented), comments and blank lines are not options.
func option(line string) (key, value string, ok bool) {
	if line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' || line[0] == ';' {
		return "", "", false
	}
	i := strings.IndexAny(line, "=:")
	if i < 0 {
		return "", "", false
	}
	return strings.ToLower(strings.TrimSpace(line[:i])), strings.TrimSpace(line[i+1:]), true
}

// find returns the line of key in section (-1), the section's header line
// (-1 when absent) and the last non-blank line of the section.
func (f *INI) find(section, key string) (keyLine, header, last int) {
	keyLine, header, last = -1, -1, -1
	in := false
	key = strings.ToLower(key)
	for i, l := range f.lines {
		if name, ok := sectionName(l); ok {
			in = name == section
			if in && header < 0 {
				header, last = i, i
			}
			continue
		}
		if !in {
			continue
		}
		if strings.TrimSpace(l) != "" {
			last = i
		}
		if k, _, ok := option(l); ok && k == key {
			keyLine = i
		}
	}
	return keyLine, header, last
}

// Get returns the value of key in section.
func (f *INI) Get(section, key string) (string, bool) {
	i, _, _ := f.find(section, key)
	if i < 0 {
		return "", false
	}
	_, v, _ := option(f.lines[i])
	return v, true
}

// Set writes "key = value" in section, replacing the existing line or
// appending it to the section (the section is appended when missing).
func (f *INI) Set(section, key, value string) {
	line := strings.ToLower(key) + " = " + value
	i, header, last := f.find(section, key)
	switch {
	case i >= 0:
		f.lines[i] = line
	case header >= 0:
		f.lines = append(f.lines[:last+1], append([]string{line}, f.lines[last+1:]...)...)
	default:
		// configparser (az) ends every section with a blank line; follow
		// the file's style, and az's for a new file.
		n := len(f.lines)
		trailingBlank := n == 0 || strings.TrimSpace(f.lines[n-1]) == ""
		if !trailingBlank {
			f.lines = append(f.lines, "")
		}
		f.lines = append(f.lines, "["+section+"]", line)
		if trailingBlank {
			f.lines = append(f.lines, "")
		}
		f.noFinalNewline = false
	}
}

// Delete removes key from section and reports whether it was there.
func (f *INI) Delete(section, key string) bool {
	i, _, _ := f.find(section, key)
	if i < 0 {
		return false
	}
	f.lines = append(f.lines[:i], f.lines[i+1:]...)
	return true
}

// UpdateINI reads the INI file name in dir, calls fn and writes the file
// back atomically when it changed, keeping an existing file's mode (0600
// for a new file).
func UpdateINI(dir, name string, fn func(*INI) error) error {
	path := filepath.Join(dir, name)
	before, err := os.ReadFile(path)
	perm := fileutil.FilePerm
	switch {
	case errors.Is(err, fs.ErrNotExist):
		before = nil
	case err != nil:
		return err
	default:
		if st, err := os.Stat(path); err == nil {
			perm = st.Mode().Perm()
		}
	}
	f := ParseINI(before)
	if err := fn(f); err != nil {
		return err
	}
	after := f.Bytes()
	if bytes.Equal(before, after) || (before == nil && len(after) == 0) {
		return nil
	}
	if err := os.MkdirAll(dir, fileutil.DirPerm); err != nil {
		return err
	}
	// Not fsynced: az does not either, and what azkeep writes here (the
	// cloud, the default location) is rewritten by every start.
	return fileutil.Replace(path, after, perm)
}

// DefaultCloud is the cloud az uses when config names none.
const DefaultCloud = "AzureCloud"

// SetDefaultLocation writes `[defaults] location`, as
// `az configure --defaults location=<location>` does; "" removes it.
func SetDefaultLocation(dir, location string) error {
	return UpdateINI(dir, ConfigFile, func(f *INI) error {
		if location == "" {
			f.Delete("defaults", "location")
			return nil
		}
		f.Set("defaults", "location", location)
		return nil
	})
}

// SetCloudSubscription writes `[<cloud>] subscription = <id>` in
// clouds.config, as az login and az account set do; "" removes it, as
// az logout does.
func SetCloudSubscription(dir, cloud, subscriptionID string) error {
	return UpdateINI(dir, CloudsFile, func(f *INI) error {
		if subscriptionID == "" {
			f.Delete(cloud, "subscription")
			return nil
		}
		f.Set(cloud, "subscription", subscriptionID)
		return nil
	})
}

// Core settings azkeep writes in config.
const (
	// CoreCollectTelemetry turns az's telemetry upload on or off.
	CoreCollectTelemetry = "collect_telemetry"
	// CoreEnableBrokerOnWindows turns the WAM broker on or off (az ≥ 2.61
	// turns it on by default, and tokens then never reach the cache).
	CoreEnableBrokerOnWindows = "enable_broker_on_windows"
	// CoreAllowBroker is the preview broker switch of az 2.45–2.60.
	CoreAllowBroker = "allow_broker"
)

// DisableBroker switches the Windows WAM broker off in dir's config (both
// the current and the preview setting), so `az login` there writes its
// tokens to the token cache where azkeep can take them.
func DisableBroker(dir string) error {
	return UpdateINI(dir, ConfigFile, func(f *INI) error {
		f.Set("core", CoreEnableBrokerOnWindows, "false")
		f.Set("core", CoreAllowBroker, "false")
		return nil
	})
}

// Single-setting readers. azkeep reads config and clouds.config whole
// (LoadINI); these serve the tests of packages that check what was written.

// DefaultLocation reads `[defaults] location`.
func DefaultLocation(dir string) (string, error) {
	return getINI(dir, ConfigFile, "defaults", "location")
}

// CloudSubscription reads `[<cloud>] subscription` from clouds.config: the
// active subscription az records besides isDefault in azureProfile.json.
func CloudSubscription(dir, cloud string) (string, error) {
	return getINI(dir, CloudsFile, cloud, "subscription")
}

// Core reads `[core] <key>`.
func Core(dir, key string) (string, error) { return getINI(dir, ConfigFile, "core", key) }

func getINI(dir, name, section, key string) (string, error) {
	f, err := LoadINI(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	v, _ := f.Get(section, key)
	return v, nil
}
