package statefile

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

// CompactFraction is how large the journal may grow, as a fraction of
// the base, before it is folded into a new base.
const CompactFraction = 0.25

// minCompact is the journal size below which it is never compacted.
const minCompact = 256 << 10

// Writer saves what an edge applies: a new base for a whole config, a
// journal record for a change or a new keyring. Its Save methods only
// queue (the loader calls them after each swap); Run writes, in order,
// and compacts the journal when it grows. A base queued supersedes
// everything queued before it.
type Writer struct {
	dir string
	key []byte
	log *slog.Logger

	mu    sync.Mutex
	queue []item
	wake  chan struct{}

	// What is on disk; only Run touches these.
	haveBase    bool
	baseID      fileID
	version     int64
	baseSize    int64
	journal     *os.File
	journalSize int64
	seq         uint64
	lock        *os.File // held until Close
}

type item struct {
	cfg   *access.Config
	keys  []session.ExportedKey
	delta *access.Delta
}

// NewWriter returns a writer for dir (created 0700 if missing) that
// continues saved, the state Open read (nil if none or refused: then
// changes are saved only from the next whole config on).
func NewWriter(dir string, key []byte, log *slog.Logger, saved *State) (*Writer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("statefile: state directory: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, LockName))
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: dir, key: key, log: log, wake: make(chan struct{}, 1), lock: lock}
	if saved == nil {
		return w, nil
	}
	w.haveBase, w.baseID, w.version, w.baseSize = true, saved.baseID, saved.Config.Version, saved.baseSize
	if !saved.haveJrnl {
		if err := w.newJournal(); err != nil {
			w.Close()
			return nil, err
		}
		return w, nil
	}
	f, err := os.OpenFile(filepath.Join(dir, JournalName), os.O_WRONLY, 0o600)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("statefile: %w", err)
	}
	if saved.Deltas < len(saved.journal.parts) {
		// A record that did not follow on (never written so): what is on
		// disk is not what was read; save again from the next whole config.
		f.Close()
		w.haveBase = false
		log.Warn("edge state: journal records do not follow on; saving again from the next full load", "dir", dir)
		return w, nil
	}
	// Cut off a torn record: appends continue after the last whole one.
	good := saved.journal.good
	if err := f.Truncate(good); err != nil {
		f.Close()
		w.Close()
		return nil, fmt.Errorf("statefile: %w", err)
	}
	if _, err := f.Seek(good, 0); err != nil {
		f.Close()
		w.Close()
		return nil, fmt.Errorf("statefile: %w", err)
	}
	w.journal, w.journalSize, w.seq = f, good, saved.journal.seq
	return w, nil
}

// SaveBase queues a whole config and its keys.
func (w *Writer) SaveBase(cfg access.Config, keys *session.Keyring) {
	exported := w.export(keys)
	w.mu.Lock()
	w.queue = append(w.queue[:0], item{cfg: &cfg, keys: exported})
	w.mu.Unlock()
	w.signal()
}

// SaveDelta queues changes applied on top of what was queued before.
func (w *Writer) SaveDelta(d access.Delta) {
	w.mu.Lock()
	w.queue = append(w.queue, item{delta: &d})
	w.mu.Unlock()
	w.signal()
}

// SaveKeys queues a new keyring.
func (w *Writer) SaveKeys(keys *session.Keyring) {
	exported := w.export(keys)
	if exported == nil {
		return
	}
	w.mu.Lock()
	w.queue = append(w.queue, item{keys: exported})
	w.mu.Unlock()
	w.signal()
}

func (w *Writer) export(keys *session.Keyring) []session.ExportedKey {
	if keys == nil {
		return nil
	}
	exported, err := keys.Export()
	if err != nil {
		w.log.Error("edge state: export signing keys", "err", err)
		return nil
	}
	return exported
}

// Close releases the state directory; call it only when Run was not
// started (Run closes the writer when it returns).
func (w *Writer) Close() {
	if w.journal != nil {
		w.journal.Close()
		w.journal = nil
	}
	if w.lock != nil {
		w.lock.Close()
		w.lock = nil
	}
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run writes what is queued until ctx ends, then what is still queued,
// and closes the writer.
func (w *Writer) Run(ctx context.Context) {
	defer w.Close()
	for {
		select {
		case <-ctx.Done():
			w.Flush()
			return
		case <-w.wake:
			w.Flush()
		}
	}
}

// Flush writes what is queued now; errors are logged (the state on disk
// stays an older, whole state).
func (w *Writer) Flush() {
	w.mu.Lock()
	items := w.queue
	w.queue = nil
	w.mu.Unlock()
	// release: a base was written. The config it came from (the edge's
	// full load) and the encoding are garbage then, together larger than
	// what the edge keeps: that memory goes back to the system, rather
	// than stay heap that the edge's RSS counts until the next full load.
	release := false
	defer func() {
		if release {
			debug.FreeOSMemory()
		}
	}()
	for _, it := range items {
		var err error
		switch {
		case it.cfg != nil:
			start := time.Now()
			if err = w.writeBase(it.cfg, it.keys); err == nil {
				w.log.Info("edge state saved", "version", w.version, "bytes", w.baseSize, "took", time.Since(start))
			}
			release = true
		case it.delta != nil:
			err = w.appendDelta(it.delta)
		default:
			err = w.appendKeys(it.keys)
		}
		if err != nil {
			w.log.Error("edge state: save failed; the state directory keeps an older state", "dir", w.dir, "err", err)
		}
	}
	clear(items) // the configs are garbage from here
	if w.haveBase && w.journalSize > minCompact && float64(w.journalSize) > CompactFraction*float64(w.baseSize) {
		start := time.Now()
		if err := w.compact(); err != nil {
			w.log.Error("edge state: compaction failed", "dir", w.dir, "err", err)
		} else {
			w.log.Info("edge state compacted", "version", w.version, "bytes", w.baseSize, "took", time.Since(start))
		}
		release = true
	}
}

// writeBase writes cfg as the new base, then an empty journal for it.
func (w *Writer) writeBase(cfg *access.Config, keys []session.ExportedKey) error {
	id := newFileID()
	size, err := writeAtomic(filepath.Join(w.dir, BaseName), func(bw *bufio.Writer) error {
		pw := partWriter{w: bw, key: w.key, id: id}
		if err := pw.header(); err != nil {
			return err
		}
		counts := [5]int64{int64(len(cfg.Apps)), int64(len(cfg.Policies)), int64(len(cfg.ServiceTokens)),
			int64(len(cfg.IdentityProviders)), int64(len(cfg.Revocations))}
		if err := pw.put(part{typ: recHeader, version: cfg.Version, counts: counts}); err != nil {
			return err
		}
		if keys != nil {
			if err := pw.put(part{typ: recKeys, keys: keys}); err != nil {
				return err
			}
		}
		for _, section := range []func() error{
			func() error {
				return emitChunks(cfg.Apps, appsPerChunk, func(c []access.App) error { return pw.put(part{typ: recApps, apps: c}) })
			},
			func() error {
				return emitChunks(cfg.Policies, policiesPerChunk, func(c []access.Policy) error { return pw.put(part{typ: recPolicies, policies: c}) })
			},
			func() error {
				return emitChunks(cfg.ServiceTokens, tokensPerChunk, func(c []access.ServiceTokenCredential) error {
					return pw.put(part{typ: recTokens, tokens: c})
				})
			},
			func() error {
				return emitChunks(cfg.IdentityProviders, idpsPerChunk, func(c []access.IdentityProvider) error { return pw.put(part{typ: recIdPs, idps: c}) })
			},
			func() error {
				return emitChunks(cfg.Revocations, revsPerChunk, func(c []access.SessionRevocation) error { return pw.put(part{typ: recRevocations, revs: c}) })
			},
			func() error {
				return emitChunks(cfg.Certificates, certsPerChunk, func(c []access.CertificateCredential) error { return pw.put(part{typ: recCerts, certs: c}) })
			},
			func() error {
				return emitChunks(cfg.Organizations, orgsPerChunk, func(c []access.Organization) error { return pw.put(part{typ: recOrgs, orgs: c}) })
			},
		} {
			if err := section(); err != nil {
				return err
			}
		}
		return pw.put(part{typ: recEnd, version: cfg.Version})
	})
	if err != nil {
		return fmt.Errorf("write base: %w", err)
	}
	w.haveBase, w.baseID, w.version, w.baseSize = true, id, cfg.Version, size
	return w.newJournal()
}

// compact folds the journal into a new base, streaming the old base
// through the journal's changes: only one chunk of the base and the
// journal's objects are in memory at a time.
func (w *Writer) compact() error {
	old, err := os.Open(filepath.Join(w.dir, BaseName))
	if err != nil {
		return err
	}
	defer old.Close()
	j, ok, err := readJournal(filepath.Join(w.dir, JournalName), w.key, w.baseID)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("the journal does not belong to the base")
	}
	id := newFileID()
	var version int64
	size, err := writeAtomic(filepath.Join(w.dir, BaseName), func(bw *bufio.Writer) error {
		pw := partWriter{w: bw, key: w.key, id: id}
		if err := pw.header(); err != nil {
			return err
		}
		m := newMerger(j.parts, time.Now(), func(p part) error {
			if p.typ == recEnd {
				version = p.version
			}
			if len(p.apps)+len(p.policies)+len(p.tokens)+len(p.idps)+len(p.revs)+len(p.certs)+len(p.orgs) == 0 &&
				(p.typ == recApps || p.typ == recPolicies || p.typ == recTokens || p.typ == recIdPs || p.typ == recRevocations || p.typ == recCerts || p.typ == recOrgs) {
				return nil // a chunk emptied by deletions
			}
			return pw.put(p)
		})
		return streamBase(old, w.key, m.feed)
	})
	if err != nil {
		return err
	}
	if version != w.version {
		w.log.Warn("edge state: compacted base is not at the version saved", "base", version, "saved", w.version)
	}
	w.baseID, w.baseSize, w.version = id, size, version
	return w.newJournal()
}

// newJournal replaces the journal with an empty one for the base.
func (w *Writer) newJournal() error {
	if w.journal != nil {
		w.journal.Close()
		w.journal = nil
	}
	path := filepath.Join(w.dir, JournalName)
	id := w.baseID
	if _, err := writeAtomic(path, func(bw *bufio.Writer) error {
		_, err := bw.Write(appendHeader(nil, kindJournal, id))
		return err
	}); err != nil {
		return fmt.Errorf("new journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	w.journal, w.journalSize, w.seq = f, int64(headerSize), 0
	return nil
}

func (w *Writer) appendDelta(d *access.Delta) error {
	if !w.haveBase {
		return nil // saved from the next whole config on
	}
	if d.From != w.version {
		// Never happens when the loader saves every change it applies;
		// the state on disk stays whole, at its version.
		return fmt.Errorf("changes %d..%d do not follow the saved version %d", d.From, d.To, w.version)
	}
	if err := w.append(part{typ: recDelta, delta: *d}); err != nil {
		return err
	}
	w.version = d.To
	return nil
}

func (w *Writer) appendKeys(keys []session.ExportedKey) error {
	if !w.haveBase {
		return nil
	}
	return w.append(part{typ: recKeys, keys: keys})
}

// append writes one journal record and syncs it.
func (w *Writer) append(p part) error {
	if w.journal == nil {
		if err := w.newJournal(); err != nil {
			return err
		}
	}
	e := enc{}
	if err := encodePart(&e, &p); err != nil {
		return err
	}
	rec, err := sealRecord(nil, w.key, kindJournal, w.baseID, w.seq, e.record())
	if err != nil {
		return err
	}
	if _, err := w.journal.Write(rec); err != nil {
		// A partial write is a torn record, ignored when read; start a
		// fresh journal after it is cut off on the next open.
		return fmt.Errorf("append to journal: %w", err)
	}
	if err := w.journal.Sync(); err != nil {
		return fmt.Errorf("sync journal: %w", err)
	}
	w.seq++
	w.journalSize += int64(len(rec))
	return nil
}

// partWriter seals and writes the records of a new base.
type partWriter struct {
	w   *bufio.Writer
	key []byte
	id  fileID
	seq uint64
}

func (pw *partWriter) header() error {
	_, err := pw.w.Write(appendHeader(nil, kindBase, pw.id))
	return err
}

func (pw *partWriter) put(p part) error {
	e := enc{}
	if err := encodePart(&e, &p); err != nil {
		return err
	}
	rec, err := sealRecord(nil, pw.key, kindBase, pw.id, pw.seq, e.record())
	if err != nil {
		return err
	}
	pw.seq++
	_, err = pw.w.Write(rec)
	return err
}
