package corscheck_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/corscheck"
)

// corpusEntry is a line of testdata/har/manifest.json, which
// e2e.TestGenerateHARCorpus writes with the files.
type corpusEntry struct {
	File     string `json:"file"`
	Producer string `json:"producer"`
	Scenario string `json:"scenario"`
	Cause    string `json:"cause"`
}

func readManifest(t *testing.T) []corpusEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "har", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m []corpusEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatal("empty manifest")
	}
	return m
}

// verdict is what the doctor concludes from one corpus file: the cause,
// the limits it states, and the probe commands it prints.
type verdict struct {
	cause  string
	limits []string
	probes []string
	failed int
}

func diagnoseFile(t *testing.T, name string) verdict {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "har", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(name, ".console.txt") {
		c, err := corscheck.ParseConsole(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d := corscheck.DiagnoseConsole(c)
		v := verdict{cause: d.Cause, limits: d.Limits, failed: d.Failed}
		for _, fd := range d.Findings {
			v.probes = append(v.probes, fd.Probe)
		}
		return v
	}
	h, err := corscheck.ParseHAR(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	d := corscheck.Diagnose(h)
	v := verdict{cause: d.Cause, limits: d.Limits, failed: d.Failed}
	for _, fd := range d.Findings {
		v.probes = append(v.probes, fd.Probe)
	}
	return v
}

func diagnoseWithConsole(t *testing.T, harFile, consoleFile string) verdict {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "har", harFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := corscheck.ParseHAR(f)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := os.Open(filepath.Join("testdata", "har", consoleFile))
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	c, err := corscheck.ParseConsole(cf)
	if err != nil {
		t.Fatal(err)
	}
	d := corscheck.Diagnose(h)
	d.WithConsole(c)
	return verdict{cause: d.Cause, limits: d.Limits, failed: d.Failed}
}

// TestDoctorCorpus runs the doctor on every file of the corpus, real
// exports of the CORS guide's scenarios, and holds it to the manifest:
// the doctor names the actual cause, or says the file does not show it
// (undetermined, with the command that probes the app, or an empty
// diagnosis from a producer whose limits it states); it never names a
// wrong cause nor calls a failure a success. It logs the score per
// producer (make har-score) and fails when a score drops below
// wantScore.
func TestDoctorCorpus(t *testing.T) {
	type tally struct{ right, total int }
	scores := map[string]*tally{}
	for _, c := range readManifest(t) {
		t.Run(c.File, func(t *testing.T) {
			v := diagnoseFile(t, c.File)
			s := scores[c.Producer]
			if s == nil {
				s = &tally{}
				scores[c.Producer] = s
			}
			s.total++
			switch {
			case v.cause == c.Cause:
				s.right++
				if c.Cause != "" && len(v.probes) == 0 {
					t.Errorf("cause %s without a probe command", v.cause)
				}
			case c.Cause == "":
				t.Errorf("success scenario: doctor says %q", v.cause)
			case v.cause == corscheck.CauseUndetermined:
				if len(v.probes) == 0 || !strings.HasPrefix(v.probes[0], "gatehouse cors check ") {
					t.Errorf("undetermined without a probe command: %q", v.probes)
				}
				t.Logf("undetermined (actual %s); limits %q", c.Cause, v.limits)
			case v.cause == "":
				if len(v.limits) == 0 {
					t.Errorf("failure %s: doctor sees nothing wrong and states no limit", c.Cause)
				}
				t.Logf("nothing recorded (actual %s); limits %q", c.Cause, v.limits)
			default:
				t.Errorf("doctor says %s, actual cause %s", v.cause, c.Cause)
			}
		})
	}
	// A HAR from a producer that cannot show the cause, with the console
	// log of the same failure (the CORS guide asks for both).
	consoles := map[string]string{}
	for _, c := range readManifest(t) {
		if c.Producer == "chrome-console" {
			consoles[c.Scenario] = c.File
		}
	}
	for _, c := range readManifest(t) {
		if (c.Producer != "playwright" && c.Producer != "chrome-har") || consoles[c.Scenario] == "" {
			continue
		}
		producer := c.Producer + "+chrome-console"
		t.Run(c.File+"+console", func(t *testing.T) {
			v := diagnoseWithConsole(t, c.File, consoles[c.Scenario])
			s := scores[producer]
			if s == nil {
				s = &tally{}
				scores[producer] = s
			}
			s.total++
			switch {
			case v.cause == c.Cause:
				s.right++
			case v.cause == corscheck.CauseUndetermined:
				t.Logf("undetermined (actual %s)", c.Cause)
			default:
				t.Errorf("doctor says %q, actual cause %q", v.cause, c.Cause)
			}
		})
	}
	var producers []string
	for p := range scores {
		producers = append(producers, p)
	}
	sort.Strings(producers)
	for _, p := range producers {
		s := scores[p]
		t.Logf("score %-18s %2d/%d", p, s.right, s.total)
		if min, ok := wantScore[p]; !ok || s.right < min {
			t.Errorf("score %s: %d/%d, want at least %d", p, s.right, s.total, min)
		}
	}
}

// wantScore is the least number of files per producer on which the
// doctor names the actual cause (the README's score table).
var wantScore = map[string]int{
	"chrome":                    10,
	"chrome-sanitized":          10,
	"chrome-har":                8,
	"chrome-har+chrome-console": 10,
	"playwright":                1,
	"playwright+chrome-console": 6,
	"chrome-console":            6,
	"firefox":                   10,
}
