package corscheck_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/corscheck"
)

// FuzzDiagnose feeds arbitrary HAR files to the parser and the diagnosis:
// neither may panic, and every finding names an entry of the file.
func FuzzDiagnose(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "cmd", "gatehouse", "testdata", "har", "*.har"))
	corpus, _ := filepath.Glob(filepath.Join("testdata", "har", "*.har"))
	files = append(files, corpus...)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"log":{"entries":[{"request":{"method":"OPTIONS","url":"http://a/","headers":[{"name":"Origin","value":"http://b"},{"name":"Access-Control-Request-Method","value":"PUT"}]},"response":{"status":204}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := corscheck.ParseHAR(bytes.NewReader(data))
		if err != nil {
			return
		}
		d := corscheck.Diagnose(h)
		for _, fd := range d.Findings {
			if fd.Entry < 0 || fd.Entry >= len(h.Log.Entries) || len(fd.Problems) == 0 {
				t.Fatalf("finding %+v for %d entries", fd, len(h.Log.Entries))
			}
		}
	})
}
