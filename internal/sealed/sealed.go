// Package sealed encrypts small secrets at rest with the installation's
// master key (AES-256-GCM). Each sealed value is bound to additional data
// naming where it belongs, such as its row id, so that it cannot be moved
// to another row or purpose and still open.
package sealed

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the length of the key: AES-256.
const KeySize = 32

// ErrOpen is returned when a sealed value does not open: the key is not
// the one it was sealed with, the additional data differs, or the value
// was altered.
var ErrOpen = errors.New("sealed: cannot open (wrong master key, or the value was moved or altered)")

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealed: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealed: %w", err)
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext under key with aad as additional data. The
// result is a fresh random nonce followed by the ciphertext and tag.
func Seal(key []byte, aad string, plaintext []byte) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("sealed: nonce: %w", err)
	}
	return aead.Seal(out, out, plaintext, []byte(aad)), nil
}

// Open reverses Seal. It fails with ErrOpen unless key and aad are the
// ones the value was sealed with and the value is intact.
func Open(key []byte, aad string, sealed []byte) ([]byte, error) {
	return open(key, aad, sealed, false)
}

// OpenInPlace is Open decrypting into sealed's own memory, for large
// values read only to be opened: the plaintext is a part of sealed, whose
// content is undefined when it fails.
func OpenInPlace(key []byte, aad string, sealed []byte) ([]byte, error) {
	return open(key, aad, sealed, true)
}

func open(key []byte, aad string, sealed []byte, inPlace bool) ([]byte, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	n := aead.NonceSize()
	if len(sealed) < n+aead.Overhead() {
		return nil, ErrOpen
	}
	var dst []byte
	if inPlace {
		dst = sealed[n:n]
	}
	plain, err := aead.Open(dst, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
