package vault

import (
	"context"
	"fmt"
	"testing"
)

// Benchmarks of one Set and one Get per backend (go test -bench . -run ^$).
// Secret Service and pass need scripts/test.sh's environment.
func BenchmarkBackends(b *testing.B) {
	for _, f := range fixtures() {
		if f.name == "memory" {
			continue
		}
		b.Run(f.name, func(b *testing.B) {
			for _, n := range []int{2 << 10, 64 << 10} {
				b.Run(fmt.Sprintf("set-%dKB", n>>10), func(b *testing.B) {
					s := benchOpen(b, f.name)
					v := randBytes(n)
					ctx := context.Background()
					for i := 0; i < b.N; i++ {
						if err := s.Set(ctx, "bench/profile", v); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.Run(fmt.Sprintf("get-%dKB", n>>10), func(b *testing.B) {
					s := benchOpen(b, f.name)
					ctx := context.Background()
					s.Set(ctx, "bench/profile", randBytes(n))
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if _, err := s.Get(ctx, "bench/profile"); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// benchOpen opens a fresh store of the named fixture; the file backend uses
// the production scrypt work factor.
func benchOpen(b *testing.B, name string) Store {
	b.Helper()
	var spec childSpec
	switch name {
	case "file":
		spec = childSpec{Backend: File, Home: b.TempDir(), Pass: testPass}
		o := spec.options()
		o.ScryptWorkFactor = 0
		s, err := Open(File, o)
		if err != nil {
			b.Fatal(err)
		}
		return s
	case "secret-service", "secret-service-sealed":
		if !haveSecretService(&testing.T{}) {
			b.Skip("no Secret Service")
		}
		spec = childSpec{Backend: SecretService, Home: b.TempDir(), Service: "azkeep-bench-" + randHex(4)}
		if name == "secret-service-sealed" {
			spec.Limit = wincredLimit
		}
	case "pass":
		b.Skip("pass: see the conformance timings")
	default:
		b.Skip("no bench fixture")
	}
	s, err := spec.open()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Delete(context.Background(), "bench/profile") })
	return s
}
