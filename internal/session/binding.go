package session

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// NewBinding returns a fresh CF_Binding cookie value and the hash an app
// token carries in its "binding" claim. The value is 256 random bits; the
// token holds only its hash, so a stolen token does not reveal it.
func NewBinding() (value, hash string) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("session: crypto/rand failed: " + err.Error())
	}
	value = base64.RawURLEncoding.EncodeToString(b)
	return value, BindingHash(value)
}

// BindingHash is the "binding" claim for a CF_Binding value.
func BindingHash(value string) string {
	h := sha256.Sum256([]byte("gatehouse binding cookie\x00" + value))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// BindingMatches reports, in constant time, whether a CF_Binding value
// hashes to a token's binding claim. An empty value never matches.
func BindingMatches(value, hash string) bool {
	if value == "" || hash == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(BindingHash(value)), []byte(hash)) == 1
}

// Bound reports whether a token with binding claim claim may be used
// with the CF_Binding cookie value cookie: a bound token needs its
// cookie, and where binding is required an unbound token is refused.
func Bound(cookie, claim string, required bool) bool {
	if claim == "" {
		return !required
	}
	return BindingMatches(cookie, claim)
}
