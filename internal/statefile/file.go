// Package statefile keeps an edge's last applied config on disk, sealed
// with the master key, so that a restarted edge serves at once, and
// serves at all while the database is unreachable. The state is a base
// file (the whole config at one version, in chunks) and an append-only
// journal of the changes applied since, so that saving a change costs the
// size of the change; the journal is folded into a new base when it
// grows past a fraction of it.
//
// Every record is sealed (AES-256-GCM) and bound to its file, kind and
// position: a record torn by a crash at the journal's end is ignored,
// while a record altered, moved or sealed with another key makes the
// whole state refused, never trusted.
package statefile

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/sealed"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

// File names in the state directory.
const (
	BaseName    = "edge-state.base"
	JournalName = "edge-state.journal"
	// LockName is locked by the edge writing the state.
	LockName = "edge-state.lock"
)

const (
	magic         = "GHEDGEST"
	formatVersion = 4 // 2: new app and rule fields, certificates (C), organizations (O); 3: group and oidc rules; 4: organization name
	kindBase      = 1
	kindJournal   = 2
	headerSize    = len(magic) + 4 + 4 + 16
	// maxRecord bounds one sealed record (a chunk of a section).
	maxRecord = 64 << 20
)

// Record types. A base is H K? A* P* T* I* R* O* E; a journal is (D | K)*.
const (
	recHeader      = 'H'
	recKeys        = 'K'
	recApps        = 'A'
	recPolicies    = 'P'
	recTokens      = 'T'
	recIdPs        = 'I'
	recRevocations = 'R'
	recCerts       = 'C'
	recOrgs        = 'O'
	recEnd         = 'E'
	recDelta       = 'D'
)

// sections are a base's record types between H and E, in file order.
var sections = []byte{recKeys, recApps, recPolicies, recTokens, recIdPs, recRevocations, recCerts, recOrgs}

// Chunk sizes: objects per sealed record of a base.
const (
	appsPerChunk     = 256
	policiesPerChunk = 512
	tokensPerChunk   = 4096
	idpsPerChunk     = 128
	revsPerChunk     = 4096
	certsPerChunk    = 256
	orgsPerChunk     = 4096
)

var (
	// ErrNoState is returned by Open when the directory holds no state.
	ErrNoState = errors.New("statefile: no saved state")
	// ErrRefused is wrapped by Open's error for a state that is not
	// trusted: sealed with another key, altered, or not a state file.
	ErrRefused = errors.New("statefile: saved state refused")
	// errTorn is a record cut short by the end of the file.
	errTorn = errors.New("statefile: torn record")
)

type fileID [16]byte

func newFileID() fileID {
	var id fileID
	_, _ = rand.Read(id[:])
	return id
}

// recordAAD binds a record to its file and position.
func recordAAD(kind uint32, id fileID, seq uint64) string {
	return "gatehouse edge state v" + strconv.Itoa(formatVersion) + " kind " + strconv.Itoa(int(kind)) +
		" file " + hex.EncodeToString(id[:]) + " record " + strconv.FormatUint(seq, 10)
}

func appendHeader(b []byte, kind uint32, id fileID) []byte {
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint32(b, formatVersion)
	b = binary.BigEndian.AppendUint32(b, kind)
	return append(b, id[:]...)
}

// parseHeader reads a file header; a short one is errTorn.
func parseHeader(r io.Reader, kind uint32) (fileID, error) {
	var h [headerSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fileID{}, errTorn
		}
		return fileID{}, err
	}
	if string(h[:len(magic)]) != magic {
		return fileID{}, fmt.Errorf("%w: not an edge state file", ErrRefused)
	}
	if v := binary.BigEndian.Uint32(h[len(magic):]); v != formatVersion {
		return fileID{}, fmt.Errorf("%w: format version %d, this build reads %d", ErrRefused, v, formatVersion)
	}
	if k := binary.BigEndian.Uint32(h[len(magic)+4:]); k != kind {
		return fileID{}, fmt.Errorf("%w: file kind %d, want %d", ErrRefused, k, kind)
	}
	var id fileID
	copy(id[:], h[len(magic)+8:])
	return id, nil
}

// recordReader reads the sealed records of one file.
type recordReader struct {
	r    *bufio.Reader
	key  []byte
	kind uint32
	id   fileID
	seq  uint64
	// good is the offset just past the last whole record read.
	good int64
	// left is how many bytes of records the file holds, so that a bad
	// length is torn before anything is allocated for it.
	left int64
	// free, if set, holds buffers of records already decoded, which raw
	// reads the next records into rather than allocate.
	free chan []byte
}

// buffer returns a buffer of n bytes for a record.
func (rr *recordReader) buffer(n int) []byte {
	select {
	case b := <-rr.free:
		if cap(b) >= n {
			return b[:n]
		}
	default:
	}
	return make([]byte, n)
}

// raw returns the next sealed record and its position; io.EOF at a
// clean end, errTorn when the file ends inside a record.
func (rr *recordReader) raw() (uint64, []byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(rr.r, n[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, errTorn
		}
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxRecord || int64(size) > rr.left-rr.good-4 {
		return 0, nil, errTorn
	}
	b := rr.buffer(int(size))
	if _, err := io.ReadFull(rr.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, errTorn
		}
		return 0, nil, err
	}
	seq := rr.seq
	rr.seq++
	rr.good += 4 + int64(size)
	return seq, b, nil
}

// open authenticates and decrypts a record in b's memory (which it is
// read into only to be opened).
func (rr *recordReader) open(seq uint64, b []byte) ([]byte, error) {
	plain, err := sealed.OpenInPlace(rr.key, recordAAD(rr.kind, rr.id, seq), b)
	if err != nil {
		return nil, fmt.Errorf("%w: record %d: %v", ErrRefused, seq, err)
	}
	return plain, nil
}

// sealRecord appends a record (length, then sealed plaintext) to out.
func sealRecord(out []byte, key []byte, kind uint32, id fileID, seq uint64, plain []byte) ([]byte, error) {
	b, err := sealed.Seal(key, recordAAD(kind, id, seq), plain)
	if err != nil {
		return nil, err
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
	return append(out, b...), nil
}

// part is one decoded record.
type part struct {
	typ      byte
	version  int64    // H and E
	counts   [5]int64 // H: apps, policies, tokens, identity providers, revocations
	keys     []session.ExportedKey
	apps     []access.App
	policies []access.Policy
	tokens   []access.ServiceTokenCredential
	idps     []access.IdentityProvider
	revs     []access.SessionRevocation
	certs    []access.CertificateCredential
	orgs     []access.Organization
	delta    access.Delta
}

func encodePart(e *enc, p *part) error {
	e.typ = p.typ
	switch p.typ {
	case recHeader:
		e.i64(p.version)
		for _, n := range p.counts {
			e.i64(n)
		}
	case recEnd:
		e.i64(p.version)
	case recKeys:
		encodeKeys(e, p.keys)
	case recApps:
		return encodeApps(e, p.apps)
	case recPolicies:
		return encodePolicies(e, p.policies)
	case recTokens:
		encodeTokens(e, p.tokens)
	case recIdPs:
		return encodeIdPs(e, p.idps)
	case recRevocations:
		encodeRevocations(e, p.revs)
	case recCerts:
		encodeCerts(e, p.certs)
	case recOrgs:
		encodeOrgs(e, p.orgs)
	case recDelta:
		return encodeDelta(e, &p.delta)
	default:
		return fmt.Errorf("statefile: unknown record type %q", p.typ)
	}
	return nil
}

func decodePart(plain []byte) (part, error) { return decodePartReusing(plain, nil) }

// decodePartReusing is decodePart decoding tokens into the slices tokens
// holds, if any fits.
func decodePartReusing(plain []byte, tokens chan []access.ServiceTokenCredential) (part, error) {
	typ, d := newDec(plain)
	d.tokens = tokens
	p := part{typ: typ}
	switch p.typ {
	case recHeader:
		p.version = d.i64()
		for i := range p.counts {
			p.counts[i] = d.i64()
		}
	case recEnd:
		p.version = d.i64()
	case recKeys:
		p.keys = decodeKeys(d)
	case recApps:
		p.apps = decodeApps(d)
	case recPolicies:
		p.policies = decodePolicies(d)
	case recTokens:
		p.tokens = decodeTokens(d)
	case recIdPs:
		p.idps = decodeIdPs(d)
	case recRevocations:
		p.revs = decodeRevocations(d)
	case recCerts:
		p.certs = decodeCerts(d)
	case recOrgs:
		p.orgs = decodeOrgs(d)
	case recDelta:
		p.delta = decodeDelta(d)
	default:
		d.fail()
	}
	if err := d.done(); err != nil {
		return part{}, fmt.Errorf("%w: record type %q: %v", ErrRefused, p.typ, err)
	}
	return p, nil
}

// streamBase reads the base file at path record by record, opening and
// decoding in parallel, and passes each part to fn in file order; fn must
// not keep a part's tokens slice (its memory is reused). It
// fails (ErrRefused) unless the base is whole: a header first, sections
// in order, an end record last.
func streamBase(f *os.File, key []byte, fn func(part) error) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	id, err := parseHeader(f, kindBase)
	if errors.Is(err, errTorn) {
		return fmt.Errorf("%w: base file cut short", ErrRefused)
	}
	if err != nil {
		return err
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	// A record's buffer is garbage once it is decoded (the decoded part
	// copies what it keeps): the records after it are read into it, so
	// that reading a base allocates a few records' worth, not its size.
	free := make(chan []byte, 2*workers+2)
	// So are the tokens of a part once fn returns (it copies them): the
	// tokens of the parts after it are decoded into them.
	tokens := make(chan []access.ServiceTokenCredential, 2*workers+2)
	rr := &recordReader{r: bufio.NewReaderSize(f, 1<<20), key: key, kind: kindBase, id: id, left: fi.Size() - int64(headerSize), free: free}

	type result struct {
		p   part
		err error
	}
	type job struct {
		seq uint64
		b   []byte
		out chan result
	}
	jobs := make(chan job)
	ordered := make(chan chan result, 2*workers+2)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				var p part
				plain, err := rr.open(j.seq, j.b)
				if err == nil {
					p, err = decodePartReusing(plain, tokens)
				}
				select {
				case free <- j.b:
				default:
				}
				j.out <- result{p, err}
			}
		})
	}
	go func() {
		defer close(ordered)
		defer close(jobs)
		for {
			seq, b, err := rr.raw()
			out := make(chan result, 1)
			if err != nil {
				if errors.Is(err, errTorn) {
					err = fmt.Errorf("%w: base file cut short", ErrRefused)
				}
				out <- result{err: err}
				select {
				case ordered <- out:
				case <-stop:
				}
				return
			}
			select {
			case ordered <- out:
			case <-stop:
				return
			}
			select {
			case jobs <- job{seq, b, out}:
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		close(stop)
		for range ordered { // let the reader finish
		}
		wg.Wait()
	}()

	next := -1 // index in sections of the last section seen; -1 before any
	first := true
	ended := false
	for out := range ordered {
		r := <-out
		switch {
		case errors.Is(r.err, io.EOF) && ended:
			return nil
		case errors.Is(r.err, io.EOF):
			return fmt.Errorf("%w: base file cut short", ErrRefused)
		case r.err != nil:
			return r.err
		case ended:
			return fmt.Errorf("%w: data after the end of the base", ErrRefused)
		}
		p := r.p
		switch {
		case first && p.typ != recHeader, !first && p.typ == recHeader:
			return fmt.Errorf("%w: base records out of order", ErrRefused)
		case p.typ == recDelta:
			return fmt.Errorf("%w: a change record in the base", ErrRefused)
		case p.typ != recHeader && p.typ != recEnd:
			i := sectionIndex(p.typ)
			if i < next || (p.typ == recKeys && i == next) {
				return fmt.Errorf("%w: base sections out of order", ErrRefused)
			}
			next = i
		}
		first = false
		if err := fn(p); err != nil {
			return err
		}
		if p.typ == recTokens {
			select {
			case tokens <- p.tokens[:0]:
			default:
			}
		}
		ended = p.typ == recEnd
	}
	return fmt.Errorf("%w: base file cut short", ErrRefused)
}

func sectionIndex(typ byte) int {
	for i, s := range sections {
		if s == typ {
			return i
		}
	}
	return -1
}

// journal is what a journal file holds for one base.
type journal struct {
	parts []part // D and K records, in order
	// good is the file's length up to the last whole record; torn
	// reports bytes after it (a crash mid-append), to be cut off.
	good int64
	torn bool
	seq  uint64 // the next record's position
}

// readJournal reads the journal at path for the base id. A journal of
// another base (left by a crash while a new base was put in place) or
// one torn before its header is empty; a torn last record is dropped.
func readJournal(path string, key []byte, base fileID) (journal, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return journal{}, false, nil
	}
	if err != nil {
		return journal{}, false, err
	}
	defer f.Close()
	id, err := parseHeader(f, kindJournal)
	if errors.Is(err, errTorn) || (err == nil && id != base) {
		return journal{}, false, nil
	}
	if err != nil {
		return journal{}, false, err
	}
	fi, err := f.Stat()
	if err != nil {
		return journal{}, false, err
	}
	j := journal{good: int64(headerSize)}
	rr := &recordReader{r: bufio.NewReader(f), key: key, kind: kindJournal, id: id, left: fi.Size() - int64(headerSize)}
	for {
		seq, b, err := rr.raw()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errTorn) {
			j.torn = true
			break
		}
		if err != nil {
			return journal{}, false, err
		}
		plain, err := rr.open(seq, b)
		if err != nil {
			return journal{}, false, err
		}
		p, err := decodePart(plain)
		if err != nil {
			return journal{}, false, err
		}
		if p.typ != recDelta && p.typ != recKeys {
			return journal{}, false, fmt.Errorf("%w: record type %q in the journal", ErrRefused, p.typ)
		}
		j.parts = append(j.parts, p)
		j.good = int64(headerSize) + rr.good
	}
	j.seq = rr.seq
	return j, true, nil
}

// writeAtomic writes a new file at path: fill writes the content to a
// temporary file beside it, which is synced and renamed over path.
func writeAtomic(path string, fill func(w *bufio.Writer) error) (int64, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return 0, err
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := fill(w); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, err
	}
	fi, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, err
	}
	return fi.Size(), syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
