package session

import "crypto/rsa"

// CurrentPrivateKey exposes the current key to tests that forge unusual
// tokens with it.
func (k *Keyring) CurrentPrivateKey() *rsa.PrivateKey { return k.keys[0].private }
