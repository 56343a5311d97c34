package policy

import (
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// ErrNotApplicable is returned by Apply when the delta does not start at
// the snapshot's version.
var ErrNotApplicable = errors.New("policy: delta does not apply to this snapshot's version")

// Apply returns the snapshot of version d.To: s with d applied. s is not
// modified; the result shares with s everything d does not touch, and
// decides exactly as Compile of the config at d.To would.
//
// STUB: not built yet.
func (s *Snapshot) Apply(d access.Delta) (*Snapshot, error) {
	return nil, errors.New("policy: Apply not built yet")
}
