// Package version tells which build of Gatehouse is running: its version,
// commit and build date, stamped at build time with -ldflags -X (the
// Makefile and the Dockerfile do), or else read from the Go build
// information the toolchain embeds.
package version

import (
	"fmt"
	"runtime/debug"
)

// Set at build time, e.g.
//
//	go build -ldflags "-X github.com/gatehouse-dev/gatehouse/internal/version.version=v1.2.0 \
//	  -X github.com/gatehouse-dev/gatehouse/internal/version.commit=$(git rev-parse HEAD) \
//	  -X github.com/gatehouse-dev/gatehouse/internal/version.date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
var version, commit, date string

// Devel is the version of a build that was not stamped and has no module
// version (go run, go build in a checkout).
const Devel = "devel"

// Info describes one build. Commit and Date are empty when unknown.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"build_date"`
	// Modified reports a build from a work tree with uncommitted changes,
	// when the toolchain recorded it.
	Modified bool `json:"modified"`
}

// Get returns this binary's build information: the stamped values, each
// falling back to the build information's module version, vcs.revision,
// vcs.time and vcs.modified.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, Date: date}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true" && commit == ""
			}
		}
	}
	if info.Version == "" {
		info.Version = Devel
	}
	return info
}

// Short is the version with the commit's first 12 characters, e.g.
// "v1.2.0 (3f2a1bc09d4e)" or "devel (3f2a1bc09d4e, modified)": what an
// edge reports in its heartbeat.
func (i Info) Short() string {
	if i.Commit == "" {
		return i.Version
	}
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += ", modified"
	}
	return fmt.Sprintf("%s (%s)", i.Version, c)
}

// String is the whole description, as `gatehouse version` prints it.
func (i Info) String() string {
	commit, date := i.Commit, i.Date
	if commit == "" {
		commit = "unknown"
	}
	if i.Modified {
		commit += " (modified)"
	}
	if date == "" {
		date = "unknown"
	}
	return fmt.Sprintf("gatehouse %s\ncommit: %s\nbuilt: %s\n", i.Version, commit, date)
}
