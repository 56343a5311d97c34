package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Listener receives the config version of every committed change, on a
// connection of its own (LISTEN holds it; it is not the pool's). It is
// not safe for concurrent use.
type Listener struct {
	conn *pgx.Conn
}

// Listen opens a connection with the pool's settings and listens on
// ConfigChannel. Changes committed before it returns are not announced:
// read ConfigVersion afterwards to catch up.
func (s *Store) Listen(ctx context.Context) (*Listener, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, wrap("listen: connect", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+ConfigChannel); err != nil {
		_ = conn.Close(context.Background())
		return nil, wrap("listen", err)
	}
	return &Listener{conn: conn}, nil
}

// Wait blocks until a change is announced and returns its version, or
// -1 when the announcement does not name one (a wake-up to check the
// version). It fails when ctx ends or the connection is lost.
func (l *Listener) Wait(ctx context.Context) (int64, error) {
	n, err := l.conn.WaitForNotification(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: wait for a config change: %w", err)
	}
	v, err := strconv.ParseInt(n.Payload, 10, 64)
	if err != nil {
		return -1, nil
	}
	return v, nil
}

// Close closes the listener's connection.
func (l *Listener) Close() error { return l.conn.Close(context.Background()) }
