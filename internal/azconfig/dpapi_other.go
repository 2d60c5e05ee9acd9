//go:build !windows

package azconfig

// protect and unprotect exist on Windows only (DPAPI); TokenCachePath
// never selects the encrypted cache elsewhere.
func protect([]byte) ([]byte, error)   { return nil, ErrEncryptedCacheUnsupported }
func unprotect([]byte) ([]byte, error) { return nil, ErrEncryptedCacheUnsupported }
