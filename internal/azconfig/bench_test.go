package azconfig

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParseMarshal: one read and one write of a cache as az 2.45
// leaves it after a login and a second resource (7 KB).
func BenchmarkParseMarshal(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(az245, "vault-token", TokenCacheJSON))
	if err != nil {
		b.Skip("no az245 golden file")
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c, err := ParseTokenCache(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateTokenCache: the full locked read-modify-write on disk
// (lock file, read, parse, change, atomic write with fsync, unlock).
func BenchmarkUpdateTokenCache(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(az245, "vault-token", TokenCacheJSON))
	if err != nil {
		b.Skip("no az245 golden file")
	}
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, TokenCacheJSON), data, 0o600)
	i := 0
	for b.Loop() {
		i++
		err := UpdateTokenCache(context.Background(), dir, func(c *TokenCache) error {
			for _, rt := range c.RefreshTokens.All() {
				rt.LastModificationTime = epoch(int64(i))
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
