package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// Edge instances are installation-wide: every edge enforces every account,
// so these are the store's only queries not scoped by account. The API
// shows them to any account's token; they hold no account's data.

// UpsertEdgeHeartbeat records that the edge e is alive, with heartbeat_at
// set to the store's "now".
func (s *Store) UpsertEdgeHeartbeat(ctx context.Context, e access.EdgeStatus) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO edge_instances (id, hostname, addr, version, started_at, heartbeat_at,
		                            config_version, last_reload_at, last_error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET
			hostname = EXCLUDED.hostname, addr = EXCLUDED.addr, version = EXCLUDED.version,
			started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at,
			config_version = EXCLUDED.config_version, last_reload_at = EXCLUDED.last_reload_at,
			last_error = EXCLUDED.last_error`,
		e.ID, e.Hostname, e.Addr, e.Version, e.StartedAt, s.now().UTC(), e.ConfigVersion, e.LastReloadAt, e.LastError)
	if err != nil {
		return wrap(fmt.Sprintf("edge heartbeat %q", e.ID), err)
	}
	return nil
}

// ListEdges returns the edges heard from within staleAfter, by id, each
// marked current when it enforces the latest config version, together
// with that version, read in one snapshot.
func (s *Store) ListEdges(ctx context.Context, staleAfter time.Duration) (access.EdgeList, error) {
	list := access.EdgeList{Edges: []access.EdgeStatus{}}
	cutoff := s.now().UTC().Add(-staleAfter)
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT version FROM config_state`).Scan(&list.LatestVersion); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT id, hostname, addr, version, started_at, heartbeat_at, config_version, last_reload_at, last_error
			FROM edge_instances WHERE heartbeat_at > $1 ORDER BY id`, cutoff)
		if err != nil {
			return err
		}
		var e access.EdgeStatus
		_, err = pgx.ForEachRow(rows, []any{&e.ID, &e.Hostname, &e.Addr, &e.Version, &e.StartedAt, &e.HeartbeatAt,
			&e.ConfigVersion, &e.LastReloadAt, &e.LastError}, func() error {
			e.Current = e.ConfigVersion >= list.LatestVersion
			list.Edges = append(list.Edges, e)
			e = access.EdgeStatus{}
			return nil
		})
		return err
	})
	if err != nil {
		return access.EdgeList{}, wrap("list edges", err)
	}
	return list, nil
}

// DeleteEdge removes an edge's row, when it shuts down.
func (s *Store) DeleteEdge(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM edge_instances WHERE id = $1`, id); err != nil {
		return wrap(fmt.Sprintf("delete edge %q", id), err)
	}
	return nil
}

// DeleteStaleEdges removes the rows of edges not heard from within
// olderThan (edges that stopped without deleting their row) and returns
// how many it removed.
func (s *Store) DeleteStaleEdges(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM edge_instances WHERE heartbeat_at < $1`, s.now().UTC().Add(-olderThan))
	if err != nil {
		return 0, wrap("delete stale edges", err)
	}
	return tag.RowsAffected(), nil
}
