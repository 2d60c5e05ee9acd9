package workspace

import (
	"testing"

	"github.com/azkeep/azkeep/internal/hint"
)

// A mistyped name answers with the nearest ones, not a bare "not found".
func TestNotFoundSuggestsTheNearestNames(t *testing.T) {
	st := &State{
		Integrations: []Integration{{ID: "i1", Alias: "contoso"}, {ID: "i2", Alias: "fabrikam"}},
		Sessions: []Session{
			{ID: "s1", SubscriptionName: "Production", IntegrationID: "i1"},
			{ID: "s2", SubscriptionName: "Pre-Production", IntegrationID: "i1"},
			{ID: "s3", SubscriptionName: "Dev", IntegrationID: "i2"},
		},
	}
	for _, tc := range []struct {
		query, want string
		lookup      func(string) error
	}{
		{"Prodution", `did you mean "Production"? (list sessions with azkeep session list)`, func(q string) error { _, err := st.Session(q); return err }},
		{"production", "", func(q string) error { _, err := st.Session(q); return err }},
		{"prod", `did you mean "Production" or "Pre-Production"? (list sessions with azkeep session list)`, func(q string) error { _, err := st.Session(q); return err }},
		{"zzz", "list sessions with azkeep session list", func(q string) error { _, err := st.Session(q); return err }},
		{"contosso", `did you mean "contoso"? (list them with azkeep integration list)`, func(q string) error { _, err := st.Integration(q); return err }},
	} {
		err := tc.lookup(tc.query)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.query, err)
			}
			continue
		}
		if got := hint.Of(err); got != tc.want {
			t.Errorf("%q: hint %q, want %q", tc.query, got, tc.want)
		}
	}
}
