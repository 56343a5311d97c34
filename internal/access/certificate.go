package access

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"
)

// Bounds of a mutual TLS certificate body.
const (
	// MaxCertificatePEMLen bounds the uploaded PEM: one CA certificate
	// is a few kilobytes.
	MaxCertificatePEMLen = 32 << 10
	// MaxAssociatedHostnames bounds a certificate's hostnames.
	MaxAssociatedHostnames = 100
)

// Certificate is a CA certificate uploaded for mutual TLS: a client
// certificate it signed satisfies the certificate and common_name rules of
// requests to its associated hostnames, at a TLS edge.
type Certificate struct {
	ID                  string    `json:"id"`
	Name                string    `json:"name"`
	Certificate         string    `json:"certificate"`
	AssociatedHostnames []string  `json:"associated_hostnames"`
	Fingerprint         string    `json:"fingerprint"`
	ExpiresOn           time.Time `json:"expires_on"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`

	AccountID string `json:"-"`
	Revision  int64  `json:"-"`
}

// CertificateSpec is what a caller sends to upload a certificate.
type CertificateSpec struct {
	Name                string   `json:"name" validate:"required,max=350"`
	Certificate         string   `json:"certificate" validate:"required,max=32768"`
	AssociatedHostnames []string `json:"associated_hostnames" validate:"max=100"`
}

// CertificateUpdate is what a caller sends to change a certificate: its
// hostnames (required, as in Cloudflare) and optionally its name. The
// certificate itself cannot change: upload a new one.
type CertificateUpdate struct {
	Name *string `json:"name" validate:"omitempty,min=1,max=350"`
	// AssociatedHostnames replaces the certificate's hosts; left out, it
	// leaves none (Terraform's provider clears a certificate's hosts with
	// an empty update before it deletes it, as Cloudflare requires).
	AssociatedHostnames []string `json:"associated_hostnames" validate:"max=100"`
}

// CACertificate is a parsed, checked CA certificate: what
// ParseCACertificate returns and the store writes.
type CACertificate struct {
	Cert        *x509.Certificate
	Fingerprint string // SHA-256 of the DER, lower-case hex
}

// ParseCACertificate parses an uploaded PEM: exactly one CERTIFICATE
// block (surrounding whitespace aside), a CA certificate (basic
// constraints with CA set, and when key usage is given, certificate
// signing), valid at now. field names the body's field in errors.
func ParseCACertificate(field, s string, now time.Time) (CACertificate, error) {
	if len(s) > MaxCertificatePEMLen {
		return CACertificate{}, Invalid(field, "must be at most %d bytes", MaxCertificatePEMLen)
	}
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return CACertificate{}, Invalid(field, "must be a PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	if block.Type != "CERTIFICATE" {
		return CACertificate{}, Invalid(field, "must be a PEM CERTIFICATE block, not %q", block.Type)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return CACertificate{}, Invalid(field, "must hold exactly one certificate: upload each CA separately")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return CACertificate{}, Invalid(field, "is not a valid X.509 certificate")
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return CACertificate{}, Invalid(field, "must be a CA certificate (basic constraints CA:TRUE): upload the CA that signs the client certificates, not a client certificate")
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return CACertificate{}, Invalid(field, "must be allowed to sign certificates (key usage keyCertSign)")
	}
	if now.After(cert.NotAfter) {
		return CACertificate{}, Invalid(field, "expired on %s", cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(cert.NotBefore) {
		return CACertificate{}, Invalid(field, "is not valid until %s", cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return CACertificate{Cert: cert, Fingerprint: CertificateFingerprint(cert.Raw)}, nil
}

// CertificateFingerprint is a certificate's fingerprint as shown: the
// SHA-256 of its DER, lower-case hex.
func CertificateFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// ParseAssociatedHostnames checks and canonicalises a certificate's
// hostnames: each a host name or a "*." wildcard as an app domain has,
// without a path or port; duplicates are refused. field names the list.
func ParseAssociatedHostnames(field string, hosts []string) ([]string, []FieldError) {
	out := make([]string, 0, len(hosts))
	var errs []FieldError
	seen := map[string]bool{}
	for i, h := range hosts {
		f := fmt.Sprintf("%s[%d]", field, i)
		d, err := ParseDomain(h)
		switch {
		case err != nil:
			errs = append(errs, FieldError{Field: f, Message: err.Error()})
			continue
		case d.Path() != "":
			errs = append(errs, FieldError{Field: f, Message: "must be a host name without a path, such as app.example.com"})
			continue
		case seen[d.Host()]:
			errs = append(errs, FieldError{Field: f, Message: fmt.Sprintf("hostname %q is listed twice", d.Host())})
			continue
		}
		seen[d.Host()] = true
		out = append(out, d.Host())
	}
	return out, errs
}

// CertificateCredential is what the edge needs of an uploaded CA: its
// DER, account and hostnames.
type CertificateCredential struct {
	ID                  string
	AccountID           string
	Name                string
	DER                 []byte
	Fingerprint         string
	AssociatedHostnames []string
}

// CertificateDER returns the DER of a stored certificate's PEM (its first
// CERTIFICATE block), or nil.
func CertificateDER(s string) []byte {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil
	}
	return block.Bytes
}
