package store

import (
	"context"
	"errors"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// ErrFeedGap is returned by Changes when the change feed no longer holds
// every change after the version asked for (they were swept): the caller
// must load the whole config instead.
var ErrFeedGap = errors.New("store: the change feed does not reach back to that version")

// Changes returns what changed after version since, up to the latest
// committed version, read in one consistent snapshot. It returns
// ErrFeedGap when the feed no longer reaches back to since.
//
// STUB: always ErrFeedGap until the change feed is built.
func (s *Store) Changes(ctx context.Context, since int64) (access.Delta, error) {
	return access.Delta{}, ErrFeedGap
}
