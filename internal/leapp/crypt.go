package leapp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"unicode/utf8"
)

// Errors of decrypt, told apart so the user hears which fix applies.
var (
	// errNotEncrypted: the bytes are not crypto-js's OpenSSL-style output,
	// so the file is not something Leapp wrote.
	errNotEncrypted = errors.New("not an encrypted Leapp file")
	// errWrongKey: the format is right but the key does not open it, as
	// when the file was written on another machine.
	errWrongKey = errors.New("cannot decrypt with this machine's key")
)

// opensslMagic opens every payload crypto-js's AES.encrypt writes when it
// is given a passphrase (OpenSSL's `enc -salt` format).
var opensslMagic = []byte("Salted__")

// decrypt opens what crypto-js's AES.encrypt(text, passphrase) returned:
// base64 of "Salted__", an 8-byte salt and AES-256-CBC ciphertext with
// PKCS#7 padding, key and IV derived from passphrase and salt by OpenSSL's
// EVP_BytesToKey with MD5 and one iteration.
func decrypt(text []byte, passphrase string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(text)))
	if err != nil || len(raw) < 16 || !bytes.Equal(raw[:8], opensslMagic) {
		return nil, errNotEncrypted
	}
	salt, ct := raw[8:16], raw[16:]
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, errNotEncrypted
	}
	key, iv := evpBytesToKey([]byte(passphrase), salt, 32, aes.BlockSize)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
	// A wrong key shows as bad padding, or (1 in 256) as text that is not
	// UTF-8; crypto-js itself then fails with "Malformed UTF-8 data".
	n := int(pt[len(pt)-1])
	if n == 0 || n > aes.BlockSize {
		return nil, errWrongKey
	}
	for _, b := range pt[len(pt)-n:] {
		if int(b) != n {
			return nil, errWrongKey
		}
	}
	pt = pt[:len(pt)-n]
	if !utf8.Valid(pt) {
		return nil, errWrongKey
	}
	return pt, nil
}

// evpBytesToKey is OpenSSL's EVP_BytesToKey with MD5 and one round: MD5
// blocks D_i = MD5(D_{i-1} || passphrase || salt) until key and IV are
// filled.
func evpBytesToKey(pass, salt []byte, keyLen, ivLen int) (key, iv []byte) {
	var out, prev []byte
	for len(out) < keyLen+ivLen {
		h := md5.New()
		h.Write(prev)
		h.Write(pass)
		h.Write(salt)
		prev = h.Sum(nil)
		out = append(out, prev...)
	}
	return out[:keyLen], out[keyLen : keyLen+ivLen]
}
