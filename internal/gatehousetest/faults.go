package gatehousetest

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/pgcluster"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Cutter is a TCP forwarder on loopback that a test can cut and restore,
// to make a server (the database) unreachable without stopping it.
type Cutter struct {
	tb     testing.TB
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

// NewCutter forwards a new loopback port to target (host:port).
func NewCutter(tb testing.TB, target string) *Cutter {
	tb.Helper()
	c := &Cutter{tb: tb, target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c.addr = ln.Addr().String()
	c.serve(ln)
	tb.Cleanup(c.Cut)
	return c
}

// Addr is the forwarder's address.
func (c *Cutter) Addr() string { return c.addr }

func (c *Cutter) serve(ln net.Listener) {
	c.mu.Lock()
	c.ln = ln
	c.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", c.target)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns[in], c.conns[out] = true, true
			c.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}

// Cut closes the listener and every forwarded connection.
func (c *Cutter) Cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln != nil {
		c.ln.Close()
		c.ln = nil
	}
	for conn := range c.conns {
		conn.Close()
	}
	c.conns = map[net.Conn]bool{}
}

// Restore listens again on the same address.
func (c *Cutter) Restore() {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		c.tb.Fatalf("restore %s: %v", c.addr, err)
	}
	c.serve(ln)
}

// StoreVia opens a store on this package's database through a Cutter, so
// the test can take the database away from that store alone.
func StoreVia(tb testing.TB) (*store.Store, *Cutter) {
	tb.Helper()
	return StoreThrough(tb, DatabaseURL(tb))
}

// PrivateDatabase starts a PostgreSQL cluster for this test alone, so
// that it may hang (SIGSTOP) or kill the server without touching other
// tests, and returns it with the URL of a migrated database on it. The
// cluster is resumed and stopped when the test ends.
func PrivateDatabase(tb testing.TB) (*pgcluster.Cluster, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.StartTemp(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = c.Signal(syscall.SIGCONT)
		_ = c.Stop()
	})
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE gatehouse`); err != nil {
		tb.Fatal(err)
	}
	url := c.URL("gatehouse")
	if err := store.MigrateUp(url); err != nil {
		tb.Fatal(err)
	}
	return c, url
}

// StoreThrough opens a store on the database at dbURL through a new
// Cutter, with a short connect timeout, closed when the test ends.
func StoreThrough(tb testing.TB, dbURL string, opts ...store.Option) (*store.Store, *Cutter) {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	c := NewCutter(tb, u.Host)
	u.Host = c.Addr()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	st, err := store.Open(context.Background(), u.String(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	return st, c
}
