package azconfig

import (
	"bytes"
	"errors"
	"testing"
)

// The fuzz targets check, for any input: parsing returns a value or an
// error and never panics; the update step (the decision UpdateTokenCache
// and UpdateProfile take between reading and writing the file) refuses
// malformed input with a *MalformedError before calling fn, so such a file
// is never rewritten, and leaves a well-formed one unwritten when nothing
// changed; and what we write re-reads to the same bytes. The file-level
// behaviour around this step is covered by TestUpdateRefusesMalformedCache
// and TestProfileErrorsLeaveFileAlone. Seeds: the golden files of
// testdata/ and ../../testdata/az245 (written by the real az 2.45).

// FuzzParseTokenCache fuzzes the msal_token_cache.json reader.
func FuzzParseTokenCache(f *testing.F) {
	for _, b := range goldenFiles(f, "msal_token_cache.json") {
		f.Add(b)
	}
	f.Add([]byte(`{"AccessToken": {"k": {"secret": null, "x": [1, {"y": "\u00e9"}]}}}`))
	f.Add([]byte("\ufeff{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, perr := ParseTokenCache(data)
		called := false
		out, write, err := applyCacheUpdate(data, func(*TokenCache) error { called = true; return nil })
		if perr != nil {
			var me *MalformedError
			if !errors.As(err, &me) || called || write || out != nil {
				t.Fatalf("malformed input: err %v, fn called %v, write %v", err, called, write)
			}
			return
		}
		if err != nil || write {
			t.Fatalf("no-op update: err %v, write %v", err, write)
		}
		b, err := c.Marshal()
		if err != nil || !bytes.Equal(b, out) {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := ParseTokenCache(b)
		if err != nil {
			t.Fatalf("re-parse of our own output: %v\n%s", err, b)
		}
		b2, err := c2.Marshal()
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
	})
}

// FuzzParseProfile fuzzes the azureProfile.json reader.
func FuzzParseProfile(f *testing.F) {
	for _, b := range goldenFiles(f, "azureProfile.json") {
		f.Add(b)
	}
	f.Add([]byte(`{"subscriptions": [{"id": "x", "user": null, "isDefault": 1, "managedByTenants": null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, perr := ParseProfile(data)
		called := false
		out, write, err := applyProfileUpdate(data, func(*Profile) error { called = true; return nil })
		if perr != nil {
			var me *MalformedError
			if !errors.As(err, &me) || called || write || out != nil {
				t.Fatalf("malformed input: err %v, fn called %v, write %v", err, called, write)
			}
			return
		}
		if err != nil || write {
			t.Fatalf("no-op update: err %v, write %v", err, write)
		}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		p2, err := ParseProfile(b)
		if err != nil {
			t.Fatalf("re-parse of our own output: %v\n%s", err, b)
		}
		b2, _ := p2.Marshal()
		if !bytes.Equal(b, b2) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
		// Reading a subscription back from its JSON (the vault's copy) loses nothing.
		for _, s := range p.Subscriptions {
			j, _ := s.MarshalJSON()
			var s2 Subscription
			if err := s2.UnmarshalJSON(j); err != nil {
				t.Fatalf("subscription round trip: %v\n%s", err, j)
			}
			j2, _ := s2.MarshalJSON()
			if !bytes.Equal(j, j2) {
				t.Fatalf("subscription not stable:\n%s\n%s", j, j2)
			}
		}
	})
}
