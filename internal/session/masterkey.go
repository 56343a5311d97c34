package session

import (
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
