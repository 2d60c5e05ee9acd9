package entraemu

import "testing"

// BenchmarkStart measures starting an emulator (CA and RSA signing key).
func BenchmarkStart(b *testing.B) {
	for b.Loop() {
		e, err := Start(Config{})
		if err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
}
