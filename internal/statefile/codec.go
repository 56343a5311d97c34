package statefile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
	"github.com/gatehouse-dev/gatehouse/internal/session"
)

// errCorrupt is a record that authenticated but does not decode: a bug
// or a format this build does not read, never trusted.
var errCorrupt = errors.New("statefile: record does not decode")

// enc appends the binary forms of values to a record. String and byte
// data go to blobs of their own, ahead of the structure, so that a
// decoded record costs one allocation for all its strings and one for
// all its bytes, and holds on to nothing else (not the varints, not the
// decrypted buffer).
type enc struct {
	typ byte
	b   []byte // structure: lengths, numbers, flags
	s   []byte // string data
	bin []byte // byte-slice data
}

func (e *enc) u64(v uint64)   { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) i64(v int64)    { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) str(s string)   { e.u64(uint64(len(s))); e.s = append(e.s, s...) }
func (e *enc) bytes(p []byte) { e.u64(uint64(len(p))); e.bin = append(e.bin, p...) }
func (e *enc) boolean(v bool) { e.b = append(e.b, b2u(v)) }
func (e *enc) strs(ss []string) {
	e.u64(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

// record is the plaintext of the record: type, string blob, byte blob,
// structure.
func (e *enc) record() []byte {
	out := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(e.s)+len(e.bin)+len(e.b))
	out = append(out, e.typ)
	out = binary.AppendUvarint(out, uint64(len(e.s)))
	out = append(out, e.s...)
	out = binary.AppendUvarint(out, uint64(len(e.bin)))
	out = append(out, e.bin...)
	return append(out, e.b...)
}

// nilBytes tells a nil slice from an empty one: 0 is nil, n+1 is n bytes.
func (e *enc) nilBytes(p []byte) {
	if p == nil {
		e.u64(0)
		return
	}
	e.u64(uint64(len(p)) + 1)
	e.bin = append(e.bin, p...)
}

// when writes a time as Unix nanoseconds; the zero time as 0 and a flag.
func (e *enc) when(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.i64(t.UnixNano())
}

func (e *enc) whenPtr(t *time.Time) {
	if t == nil {
		e.b = append(e.b, 2)
		return
	}
	e.when(*t)
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// dec reads what enc wrote; the first error sticks and later reads
// return zero values.
type dec struct {
	b    []byte
	s    string // the record's strings, one allocation
	soff int
	bin  []byte // the record's bytes, one allocation
	boff int
	err  error
	// tokens, if set, holds token slices already consumed, which
	// decodeTokens decodes into rather than allocate.
	tokens chan []access.ServiceTokenCredential
}

// newDec splits a record's plaintext into its type, blobs and structure.
func newDec(plain []byte) (byte, *dec) {
	d0 := &dec{b: plain}
	typ := d0.byte1()
	s := d0.take(d0.u64())
	bin := d0.take(d0.u64())
	if d0.err != nil {
		return typ, d0
	}
	return typ, &dec{b: d0.b, s: string(s), bin: bytes.Clone(bin)}
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *dec) u64() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) i64() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) take(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *dec) byte1() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *dec) str() string {
	n := d.u64()
	if n > uint64(len(d.s)-d.soff) {
		d.fail()
		return ""
	}
	v := d.s[d.soff : d.soff+int(n)]
	d.soff += int(n)
	return v
}

func (d *dec) binary(n uint64) []byte {
	if n > uint64(len(d.bin)-d.boff) {
		d.fail()
		return nil
	}
	v := d.bin[d.boff : d.boff+int(n) : d.boff+int(n)]
	d.boff += int(n)
	return v
}

func (d *dec) boolean() bool { return d.byte1() == 1 }
func (d *dec) bytes() []byte { return d.binary(d.u64()) }
func (d *dec) nilBytes() []byte {
	n := d.u64()
	if n == 0 {
		return nil
	}
	return d.binary(n - 1)
}

// count reads a length and refuses one that cannot fit in what is left
// (each element takes at least min bytes), so that a bad length cannot
// make a huge allocation.
func (d *dec) count(min int) int {
	n := d.u64()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *dec) strs() []string {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *dec) when() time.Time {
	switch d.byte1() {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.i64()).UTC()
	default:
		d.fail()
		return time.Time{}
	}
}

func (d *dec) whenPtr() *time.Time {
	if len(d.b) > 0 && d.b[0] == 2 {
		d.b = d.b[1:]
		return nil
	}
	t := d.when()
	return &t
}

// done fails unless everything was read.
func (d *dec) done() error {
	if d.err == nil && (len(d.b) != 0 || d.soff != len(d.s) || d.boff != len(d.bin)) {
		d.err = errCorrupt
	}
	return d.err
}

// Service tokens, revocations, apps and policies, the bulk of a large
// config, have a binary form (objects.go); identity providers, few, are
// JSON with the fields their wire form hides.

func encodeTokens(e *enc, ts []access.ServiceTokenCredential) {
	e.u64(uint64(len(ts)))
	for i := range ts {
		t := &ts[i]
		e.str(t.ID)
		e.str(t.AccountID)
		e.str(t.Name)
		e.str(t.ClientID)
		e.nilBytes(t.SecretHash)
		e.nilBytes(t.PreviousSecretHash)
		e.whenPtr(t.PreviousSecretExpiresAt)
		e.when(t.ExpiresAt)
	}
}

func decodeTokens(d *dec) []access.ServiceTokenCredential {
	n := d.count(8)
	if n == 0 {
		return nil
	}
	out := d.tokenSlice(n)
	for i := range out {
		// Every field is set: out may be a slice decoded into before.
		out[i] = access.ServiceTokenCredential{ID: d.str(), AccountID: d.str(), Name: d.str(), ClientID: d.str(),
			SecretHash: d.nilBytes(), PreviousSecretHash: d.nilBytes(), PreviousSecretExpiresAt: d.whenPtr(), ExpiresAt: d.when()}
	}
	return out
}

// tokenSlice returns a slice of n tokens to decode into.
func (d *dec) tokenSlice(n int) []access.ServiceTokenCredential {
	select {
	case b := <-d.tokens:
		if cap(b) >= n {
			return b[:n]
		}
	default:
	}
	return make([]access.ServiceTokenCredential, n)
}

func encodeRevocations(e *enc, rs []access.SessionRevocation) {
	_ = encodeList(e, rs, func(e *enc, r *access.SessionRevocation) {
		e.str(r.AccountID)
		e.str(r.SessionID)
		e.str(r.Email)
		e.when(r.RevokedAt)
		e.when(r.ExpiresAt)
	})
}

func decodeRevocations(d *dec) []access.SessionRevocation {
	return decodeList(d, 5, func(d *dec, r *access.SessionRevocation) {
		*r = access.SessionRevocation{AccountID: d.str(), SessionID: d.str(), Email: d.str(), RevokedAt: d.when(), ExpiresAt: d.when()}
	})
}

func encodeCerts(e *enc, cs []access.CertificateCredential) {
	_ = encodeList(e, cs, func(e *enc, c *access.CertificateCredential) {
		e.str(c.ID)
		e.str(c.AccountID)
		e.str(c.Name)
		e.bytes(c.DER)
		e.str(c.Fingerprint)
		e.strs(c.AssociatedHostnames)
	})
}

func decodeCerts(d *dec) []access.CertificateCredential {
	return decodeList(d, 6, func(d *dec, c *access.CertificateCredential) {
		*c = access.CertificateCredential{ID: d.str(), AccountID: d.str(), Name: d.str(), DER: d.bytes(),
			Fingerprint: d.str(), AssociatedHostnames: d.strs()}
	})
}

func encodeOrgs(e *enc, os []access.Organization) {
	_ = encodeList(e, os, func(e *enc, o *access.Organization) {
		e.str(o.AccountID)
		e.i64(int64(o.SessionDuration))
		d := o.LoginDesign
		for _, s := range []string{d.BackgroundColor, d.TextColor, d.LogoPath, d.HeaderText, d.FooterText, o.Name} {
			e.str(s)
		}
	})
}

func decodeOrgs(d *dec) []access.Organization {
	return decodeList(d, 8, func(d *dec, o *access.Organization) {
		*o = access.Organization{AccountID: d.str(), SessionDuration: time.Duration(d.i64()),
			LoginDesign: access.LoginDesign{BackgroundColor: d.str(), TextColor: d.str(), LogoPath: d.str(), HeaderText: d.str(), FooterText: d.str()}}
		o.Name = d.str()
	})
}

func encodeKeys(e *enc, ks []session.ExportedKey) {
	e.u64(uint64(len(ks)))
	for _, k := range ks {
		e.str(k.KID)
		e.bytes(k.PrivateKey)
		e.str(k.PublicCert)
		e.when(k.CreatedAt)
		e.when(k.RetiresAt)
	}
}

func decodeKeys(d *dec) []session.ExportedKey {
	n := d.count(5)
	out := make([]session.ExportedKey, n)
	for i := range out {
		out[i] = session.ExportedKey{KID: d.str(), PrivateKey: d.bytes(), PublicCert: d.str(), CreatedAt: d.when(), RetiresAt: d.when()}
	}
	return out
}

type idpJSON struct {
	access.IdentityProvider
	XAccountID string `json:"x_account_id"`
	XRevision  int64  `json:"x_revision"`
}

// encodeList encodes a count, then each element with one.
func encodeList[T any](e *enc, xs []T, one func(*enc, *T)) error {
	e.u64(uint64(len(xs)))
	for i := range xs {
		one(e, &xs[i])
	}
	return nil
}

// decodeList decodes what encodeList wrote, nil for none; minSize is the
// fewest bytes an element takes, which bounds the count.
func decodeList[T any](d *dec, minSize int, one func(*dec, *T)) []T {
	n := d.count(minSize)
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	for i := range out {
		one(d, &out[i])
	}
	return out
}

func encodeApps(e *enc, apps []access.App) error { return encodeList(e, apps, encodeApp) }
func decodeApps(d *dec) []access.App             { return decodeList(d, 16, decodeApp) }

func encodePolicies(e *enc, ps []access.Policy) error { return encodeList(e, ps, encodePolicy) }
func decodePolicies(d *dec) []access.Policy           { return decodeList(d, 8, decodePolicy) }

func encodeIdPs(e *enc, ps []access.IdentityProvider) error {
	recs := make([]idpJSON, len(ps))
	for i, p := range ps {
		recs[i] = idpJSON{IdentityProvider: p, XAccountID: p.AccountID, XRevision: p.Revision}
	}
	return encodeJSON(e, recs)
}

func decodeIdPs(d *dec) []access.IdentityProvider {
	var recs []idpJSON
	if !decodeJSON(d, &recs) || len(recs) == 0 {
		return nil
	}
	out := make([]access.IdentityProvider, len(recs))
	for i, r := range recs {
		p := r.IdentityProvider
		p.AccountID, p.Revision = r.XAccountID, r.XRevision
		out[i] = p
	}
	return out
}

func encodeJSON(e *enc, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("statefile: encode: %w", err)
	}
	e.u64(uint64(len(b)))
	e.b = append(e.b, b...)
	return nil
}

func decodeJSON(d *dec, v any) bool {
	b := d.take(d.u64())
	if d.err != nil {
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		d.err = fmt.Errorf("%w: %v", errCorrupt, err)
		return false
	}
	return true
}

// encodeDelta writes a delta: its versions, then each part.
func encodeDelta(e *enc, dl *access.Delta) error {
	e.i64(dl.From)
	e.i64(dl.To)
	e.boolean(dl.SigningKeys)
	if err := encodeApps(e, dl.Apps); err != nil {
		return err
	}
	e.strs(dl.DeletedApps)
	if err := encodePolicies(e, dl.Policies); err != nil {
		return err
	}
	e.strs(dl.DeletedPolicies)
	encodeTokens(e, dl.ServiceTokens)
	e.strs(dl.DeletedServiceTokens)
	if err := encodeIdPs(e, dl.IdentityProviders); err != nil {
		return err
	}
	e.strs(dl.DeletedIdentityProviders)
	encodeRevocations(e, dl.Revocations)
	encodeCerts(e, dl.Certificates)
	e.strs(dl.DeletedCertificates)
	encodeOrgs(e, dl.Organizations)
	return nil
}

func decodeDelta(d *dec) access.Delta {
	var dl access.Delta
	dl.From = d.i64()
	dl.To = d.i64()
	dl.SigningKeys = d.boolean()
	dl.Apps = decodeApps(d)
	dl.DeletedApps = d.strs()
	dl.Policies = decodePolicies(d)
	dl.DeletedPolicies = d.strs()
	dl.ServiceTokens = decodeTokens(d)
	dl.DeletedServiceTokens = d.strs()
	dl.IdentityProviders = decodeIdPs(d)
	dl.DeletedIdentityProviders = d.strs()
	dl.Revocations = decodeRevocations(d)
	dl.Certificates = decodeCerts(d)
	dl.DeletedCertificates = d.strs()
	dl.Organizations = decodeOrgs(d)
	return dl
}
