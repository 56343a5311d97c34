package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MasterKeySize is the length of the master key: AES-256.
const MasterKeySize = 32

// ErrWrongMasterKey is wrapped by the error for a signing key that the
// master key cannot open, almost always because it is not the master key
// the key was sealed with.
var ErrWrongMasterKey = errors.New("wrong GATEHOUSE_MASTER_KEY?")

// ParseMasterKey decodes a master key written in base64, standard or raw
// URL alphabet, which must hold exactly 32 bytes. Surrounding whitespace
// is ignored. The error never repeats the key.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("session: master key is empty (want 32 bytes in base64)")
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		key, err = base64.RawURLEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, errors.New("session: master key is not base64 (standard or raw URL alphabet)")
	}
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("session: master key decodes to %d bytes, want %d", len(key), MasterKeySize)
	}
	return key, nil
}

// GenerateMasterKey returns a new random master key in standard base64.
func GenerateMasterKey() string {
	key := make([]byte, MasterKeySize)
	_, _ = rand.Read(key) // never fails (crypto/rand panics instead)
	return base64.StdEncoding.EncodeToString(key)
}

// newAEAD returns the cipher that seals private keys.
func newAEAD(masterKey []byte) (cipher.AEAD, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("session: master key is %d bytes, want %d", len(masterKey), MasterKeySize)
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("session: master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("session: master key: %w", err)
	}
	return aead, nil
}

// seal encrypts a private key for the row of kid: nonce, then ciphertext.
// The kid is the additional data, so a sealed key opens only in its row.
func seal(aead cipher.AEAD, kid string, plaintext []byte) []byte {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, plaintext, []byte(kid))
}

// open reverses seal.
func open(aead cipher.AEAD, kid string, sealed []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("session: signing key %s: sealed key too short", kid)
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil {
		return nil, fmt.Errorf("session: cannot decrypt signing key %s: %w", kid, ErrWrongMasterKey)
	}
	return plain, nil
}
