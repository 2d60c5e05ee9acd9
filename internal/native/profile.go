package native

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/fileutil"
)

// TODO(rotation): use azconfig's profile API once it exists; until then
// this writes the two profiles the native paths need in az's shape: a
// UTF-8 BOM and Python's json.dump output (", " and ": " separators,
// non-ASCII escaped).

// writeLoginProfile writes azureProfile.json as az login leaves it in a
// fresh dir (_normalize_properties, _set_subscriptions) and records the
// default subscription in clouds.config.
func writeLoginProfile(dir, cloud, tenant, username string, subs []armSubscription) error {
	var b strings.Builder
	b.WriteString("\ufeff{\"subscriptions\": [")
	def := -1
	for i, s := range subs {
		if s.State == "Enabled" {
			def = i
			break
		}
	}
	if def < 0 && len(subs) > 0 {
		def = 0
	}
	for i, s := range subs {
		if i > 0 {
			b.WriteString(", ")
		}
		id := s.SubscriptionID
		if id == "" {
			id = s.ID[strings.LastIndex(s.ID, "/")+1:]
		}
		fmt.Fprintf(&b, `{"id": %s, "name": %s, "state": %s, "user": {"name": %s, "type": "user"}, "isDefault": %t, "tenantId": %s, "environmentName": %s, "homeTenantId": %s, "managedByTenants": `,
			pyString(id), pyString(s.DisplayName), pyString(s.State), pyString(username), i == def, pyString(tenant), pyString(cloud), pyString(s.TenantID))
		if s.ManagedByTenants == nil {
			b.WriteString("null")
		} else {
			b.WriteString("[")
			for j, t := range *s.ManagedByTenants {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, `{"tenantId": %s}`, pyString(t.TenantID))
			}
			b.WriteString("]")
		}
		b.WriteString("}")
	}
	b.WriteString("]}")
	if err := os.MkdirAll(dir, fileutil.DirPerm); err != nil {
		return err
	}
	if err := fileutil.WriteAtomic(filepath.Join(dir, azconfig.ProfileFile), []byte(b.String()), fileutil.FilePerm); err != nil {
		return err
	}
	if def >= 0 {
		id := subs[def].SubscriptionID
		if id == "" {
			id = subs[def].ID[strings.LastIndex(subs[def].ID, "/")+1:]
		}
		return azconfig.SetCloudSubscription(dir, cloud, id)
	}
	return nil
}

// clearProfile empties the profile's subscriptions as az logout does.
// TODO(rotation): keep other members (installationId) via azconfig.
func clearProfile(dir string) error {
	path := filepath.Join(dir, azconfig.ProfileFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	out := "\ufeff{\"subscriptions\": []}"
	if id := installationID(data); id != "" {
		out = "\ufeff{\"subscriptions\": [], \"installationId\": " + pyString(id) + "}"
	}
	return fileutil.WriteAtomic(path, []byte(out), fileutil.FilePerm)
}

func installationID(data []byte) string {
	s := string(data)
	i := strings.Index(s, `"installationId": "`)
	if i < 0 {
		return ""
	}
	s = s[i+len(`"installationId": "`):]
	j := strings.IndexByte(s, '"')
	if j < 0 {
		return ""
	}
	return s[:j]
}

// pyString renders s as Python's json.dumps does (ensure_ascii=True).
func pyString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r == utf8.RuneError:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r <= 0x7f:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
