package main

import (
	"bytes"
	"testing"
	"time"
)

func TestLogFormatAutoIsTextOnATerminal(t *testing.T) {
	for _, tc := range []struct {
		format   string
		terminal bool
		want     string
	}{
		{"auto", true, "text"},
		{"auto", false, "json"},
		{"json", true, "json"},
		{"text", false, "text"},
	} {
		if got := logFormatFor(tc.format, tc.terminal); got != tc.want {
			t.Errorf("logFormatFor(%q, terminal %v) = %q, want %q", tc.format, tc.terminal, got, tc.want)
		}
	}
	var buf bytes.Buffer
	if isTerminal(&buf) {
		t.Error("a buffer is a terminal")
	}
	if _, err := newLogger("yaml", &buf); err == nil {
		t.Error("--log-format yaml accepted")
	}
}

func TestTextLogsShowDurationsReadably(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger("auto", &buf) // not a terminal: JSON, nanoseconds
	if err != nil {
		t.Fatal(err)
	}
	log.Info("api request", "duration", 1200*time.Microsecond)
	if !bytes.Contains(buf.Bytes(), []byte(`"duration":1200000`)) {
		t.Errorf("json: %s", buf.String())
	}
	buf.Reset()
	if log, err = newLogger("text", &buf); err != nil {
		t.Fatal(err)
	}
	log.Info("api request", "duration", 1200*time.Microsecond)
	if !bytes.Contains(buf.Bytes(), []byte(`msg="api request" duration=1.2ms`)) {
		t.Errorf("text: %s", buf.String())
	}
}
