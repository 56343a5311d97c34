package statefile

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen feeds arbitrary base and journal files to Open: it must never
// panic or allocate without bound, and whatever it accepts must be what
// a writer sealed (the fuzzer cannot forge a sealed record, so a changed
// file is refused or, for a journal's tail, cut short).
func FuzzOpen(f *testing.F) {
	seedDir := f.TempDir()
	w := save(f, seedDir, testConfig(3, 5), nil, testDeltas(2)...)
	w.Close()
	base, err := os.ReadFile(filepath.Join(seedDir, BaseName))
	if err != nil {
		f.Fatal(err)
	}
	journal, err := os.ReadFile(filepath.Join(seedDir, JournalName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(base, journal)
	f.Add(base, journal[:len(journal)-3])
	f.Add(base[:headerSize], []byte{})
	f.Add([]byte(magic), journal)
	f.Fuzz(func(t *testing.T, base, journal []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, BaseName), base, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, JournalName), journal, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := Open(dir, testKey)
		if err == nil && st.Config.Version < 0 {
			t.Fatalf("opened a state at version %d", st.Config.Version)
		}
	})
}

// FuzzDecodeRecord feeds arbitrary plaintext to the record decoder, which
// only ever sees authenticated records: defence in depth against a bug
// in a writer, it must fail cleanly, never panic or allocate without
// bound.
func FuzzDecodeRecord(f *testing.F) {
	cfg := testConfig(2, 3)
	for _, p := range []part{
		{typ: recHeader, version: 3, counts: [5]int64{1, 2, 3, 4, 5}},
		{typ: recApps, apps: cfg.Apps},
		{typ: recPolicies, policies: cfg.Policies},
		{typ: recTokens, tokens: cfg.ServiceTokens},
		{typ: recIdPs, idps: cfg.IdentityProviders},
		{typ: recRevocations, revs: cfg.Revocations},
		{typ: recDelta, delta: testDeltas(1)[0]},
	} {
		e := enc{}
		if err := encodePart(&e, &p); err != nil {
			f.Fatal(err)
		}
		f.Add(e.record())
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		p, err := decodePart(plain)
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		e := enc{}
		if err := encodePart(&e, &p); err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if p2, err := decodePart(e.record()); err != nil {
			t.Fatalf("re-encoded record does not decode: %v (type %q)", err, p2.typ)
		}
	})
}
