// Package certfile serves a TLS certificate from PEM files and reads them
// again when they change, so that a renewed certificate (certbot,
// cert-manager, a copied file) is used without a restart.
package certfile

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCheckEvery is how often the files are looked at, at most.
const DefaultCheckEvery = 10 * time.Second

// Reloader holds the certificate of a certificate and key file pair.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	every             time.Duration

	cert      atomic.Pointer[tls.Certificate]
	nextCheck atomic.Int64 // unix nanoseconds

	mu    sync.Mutex // one reload at a time
	stamp [2]fileStamp
}

// fileStamp is what tells a changed file: its modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// New loads certFile and keyFile; they are looked at again at most every
// every (DefaultCheckEvery when 0), at a handshake.
func New(certFile, keyFile string, every time.Duration, log *slog.Logger) (*Reloader, error) {
	if every <= 0 {
		every = DefaultCheckEvery
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log, every: every}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.nextCheck.Store(time.Now().Add(every).UnixNano())
	return r, nil
}

// load reads both files and, if they make a certificate, uses it.
func (r *Reloader) load() error {
	cs, err := stampOf(r.certFile)
	if err != nil {
		return err
	}
	ks, err := stampOf(r.keyFile)
	if err != nil {
		return err
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("%s / %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&c)
	r.stamp = [2]fileStamp{cs, ks}
	return nil
}

// GetCertificate is a tls.Config's GetCertificate: the certificate in
// force, read again first when a file changed. A changed pair that does
// not load (a renewal half written, a key that does not match) is logged,
// and the previous certificate is kept until the pair loads.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now()
	if next := r.nextCheck.Load(); now.UnixNano() >= next && r.nextCheck.CompareAndSwap(next, now.Add(r.every).UnixNano()) {
		r.check()
	}
	return r.cert.Load(), nil
}

func (r *Reloader) check() {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, err1 := stampOf(r.certFile)
	ks, err2 := stampOf(r.keyFile)
	if err1 != nil || err2 != nil {
		r.log.Error("TLS certificate files unreadable: keeping the certificate in use", "cert", r.certFile, "key", r.keyFile, "err", firstErr(err1, err2))
		return
	}
	if [2]fileStamp{cs, ks} == r.stamp {
		return
	}
	if err := r.load(); err != nil {
		r.log.Error("TLS certificate files changed but do not load: keeping the certificate in use", "err", err)
		return
	}
	r.log.Info("TLS certificate reloaded", "cert", r.certFile)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
