package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Listener is the wake-up half of the change feed: a connection of its
// own (not the pool's) LISTENing on ConfigChannel. Each committed write
// notifies it of the new version; the changes themselves come from
// Changes. It is not safe for concurrent use.
type Listener struct {
	conn *pgx.Conn
}

// Listen opens a connection with the pool's settings and listens for
// config changes on it. Close it when done.
func (s *Store) Listen(ctx context.Context) (*Listener, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("store: listen: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+ConfigChannel); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("store: listen: %w", err)
	}
	return &Listener{conn: conn}, nil
}

// Next waits for the next notification and returns the version it
// announces. It returns ctx's error when ctx ends first (the connection
// stays usable), and another error when the connection fails.
func (l *Listener) Next(ctx context.Context) (int64, error) {
	n, err := l.conn.WaitForNotification(ctx)
	if err != nil {
		if ctx.Err() != nil && !l.conn.IsClosed() {
			return 0, ctx.Err()
		}
		return 0, fmt.Errorf("store: listen: %w", err)
	}
	v, err := strconv.ParseInt(n.Payload, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: listen: notification %q is not a version", n.Payload)
	}
	return v, nil
}

// Version reads the latest committed config version on the listening
// connection (to catch up on what committed before listening began).
func (l *Listener) Version(ctx context.Context) (int64, error) {
	var v int64
	if err := l.conn.QueryRow(ctx, `SELECT version FROM config_state`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: listen: config version: %w", err)
	}
	return v, nil
}

// Closed reports whether the connection has failed or been closed.
func (l *Listener) Closed() bool { return l.conn.IsClosed() }

// Close closes the connection.
func (l *Listener) Close() { l.conn.Close(context.Background()) }
