package api

import (
	"math"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

// WithKeyStore lets the API rotate the installation's signing keys
// (/access/keys/rotate) with ks, and report the rotation schedule with
// every, the period the installation rotates at (the edges'
// --key-rotation). Without it, rotating over the API is refused.
func WithKeyStore(ks *session.KeyStore, every time.Duration) Option {
	return func(s *Server) { s.keys, s.keyRotation = ks, every }
}

// minRotationGap is how soon after the last rotation the API rotates
// again: the keyring is shared by every account, and each rotation keeps
// the previous key verifying for the grace period, so rotating in a loop
// would grow every edge's key set. (The first key, made when the first
// edge starts, is no rotation.)
const minRotationGap = time.Minute

func (s *Server) keyStatus(r *http.Request) (access.KeyStatus, error) {
	now := time.Now().UTC()
	k, err := s.store.GetKeyRotation(r.Context(), accountID(r), now, s.installationRotation())
	if err != nil {
		return access.KeyStatus{}, err
	}
	st := access.KeyStatus{KeyRotationIntervalDays: float64(k.IntervalDays), LastKeyRotationAt: k.LastRotation}
	if !k.LastRotation.IsZero() {
		left := k.LastRotation.Add(k.Every).Sub(now).Hours() / 24
		st.DaysUntilNextRotation = math.Max(0, math.Round(left*100)/100)
	}
	return st, nil
}

func (s *Server) installationRotation() time.Duration {
	if s.keyRotation > 0 {
		return s.keyRotation
	}
	return session.DefaultRotationInterval
}

// getAccessKeys answers the account's rotation period and the keyring's
// schedule.
func (s *Server) getAccessKeys(w http.ResponseWriter, r *http.Request) error {
	st, err := s.keyStatus(r)
	if err != nil {
		return err
	}
	writeResult(w, st)
	return nil
}

// updateAccessKeys sets the account's rotation period.
func (s *Server) updateAccessKeys(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		KeyRotationIntervalDays *float64 `json:"key_rotation_interval_days"`
	}
	if err := decodeInput(w, r, &body, false, keysOutputOnly); err != nil {
		return err
	}
	if body.KeyRotationIntervalDays == nil {
		return access.Invalid("key_rotation_interval_days", "is required")
	}
	if err := s.store.SetKeyRotation(r.Context(), actor(r), accountID(r), *body.KeyRotationIntervalDays); err != nil {
		return err
	}
	return s.getAccessKeys(w, r)
}

// rotateAccessKeys makes a new signing key current now, on every edge
// (the previous one keeps verifying for the grace period). The keyring
// is the installation's: every account's apps sign with the new key.
func (s *Server) rotateAccessKeys(w http.ResponseWriter, r *http.Request) error {
	if s.keys == nil {
		return access.Errorf(access.EUnavailable, "this API runs without a master key and cannot rotate signing keys; use gatehouse keys rotate where it is set")
	}
	k, err := s.store.GetKeyRotation(r.Context(), accountID(r), time.Now().UTC(), s.installationRotation())
	if err != nil {
		return err
	}
	if k.LiveKeys > 1 && time.Since(k.LastRotation) < minRotationGap {
		return access.Errorf(access.EConflict, "the signing key was rotated less than a minute ago; try again later")
	}
	if _, err := s.keys.Rotate(r.Context()); err != nil {
		return err
	}
	if err := s.store.RecordKeyRotation(r.Context(), actor(r), accountID(r)); err != nil {
		return err
	}
	return s.getAccessKeys(w, r)
}
