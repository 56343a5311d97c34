package version

import (
	"runtime/debug"
	"testing"
)

func TestStampedValuesWinOverBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.9.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "1111111111111111111111111111111111111111"},
		{Key: "vcs.time", Value: "2026-01-01T00:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := resolve("v1.2.0", "2222222222222222222222222222222222222222", "2026-12-03T11:00:00Z", bi)
	want := Info{Version: "v1.2.0", Commit: "2222222222222222222222222222222222222222", Date: "2026-12-03T11:00:00Z"}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if s := got.Short(); s != "v1.2.0 (222222222222)" {
		t.Errorf("Short() = %q", s)
	}
}

func TestUnstampedBuildFallsBackToBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "1111111111111111111111111111111111111111"},
		{Key: "vcs.time", Value: "2026-01-01T00:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	got := resolve("", "", "", bi)
	want := Info{Version: Devel, Commit: "1111111111111111111111111111111111111111", Date: "2026-01-01T00:00:00Z", Modified: true}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if s := got.Short(); s != "devel (111111111111, modified)" {
		t.Errorf("Short() = %q", s)
	}
	if s := got.String(); s != "gatehouse devel\ncommit: 1111111111111111111111111111111111111111 (modified)\nbuilt: 2026-01-01T00:00:00Z\n" {
		t.Errorf("String() = %q", s)
	}
}

func TestNothingKnownIsDevel(t *testing.T) {
	got := resolve("", "", "", nil)
	if got != (Info{Version: Devel}) || got.Short() != "devel" {
		t.Fatalf("got %+v (%q)", got, got.Short())
	}
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}
	if got := resolve("", "", "", bi); got.Version != "v1.3.0" || got.String() != "gatehouse v1.3.0\ncommit: unknown\nbuilt: unknown\n" {
		t.Fatalf("module version: %+v %q", got, got.String())
	}
}
