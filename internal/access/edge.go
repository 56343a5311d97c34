package access

import "time"

// EdgeStatus is what one running edge instance reports about itself with
// each heartbeat: who it is, and which config version it enforces.
// Edges are installation-wide (each enforces every account), so an
// EdgeStatus belongs to no account.
type EdgeStatus struct {
	// ID names the instance: its hostname and a random suffix, new at
	// every start.
	ID       string `json:"id"`
	Hostname string `json:"hostname"`
	// Addr is the edge's listen address.
	Addr string `json:"addr"`
	// Version is the edge binary's build: its version and commit, e.g.
	// "v1.2.0 (3f2a1bc09d4e)" or "devel (3f2a1bc09d4e)"; empty when unknown.
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	// HeartbeatAt is when the control plane last heard from the edge
	// (set by the store).
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// ConfigVersion is the config version the edge enforces.
	ConfigVersion int64 `json:"config_version"`
	// LastReloadAt is when the edge last applied a config, if it has.
	LastReloadAt *time.Time `json:"last_reload_at"`
	// LastError is the edge's current problem following the config (a
	// failed reload, the database unreachable), or empty.
	LastError string `json:"last_error"`
	// Current reports whether the edge enforces the latest config version
	// (set when listing).
	Current bool `json:"current"`
}

// EdgeList is every live edge and the latest config version.
type EdgeList struct {
	LatestVersion int64        `json:"latest_version"`
	Edges         []EdgeStatus `json:"edges"`
}
