package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

const certColumns = `c.id, c.name, c.certificate, c.associated_hostnames, c.fingerprint, c.expires_on,
	c.revision, c.created_at, c.updated_at`

func scanCert(row pgx.Row, extra ...any) (access.Certificate, error) {
	var c access.Certificate
	dest := append([]any{&c.ID, &c.Name, &c.Certificate, &c.AssociatedHostnames, &c.Fingerprint, &c.ExpiresOn,
		&c.Revision, &c.CreatedAt, &c.UpdatedAt}, extra...)
	err := row.Scan(dest...)
	if c.AssociatedHostnames == nil {
		c.AssociatedHostnames = []string{}
	}
	c.ExpiresOn = c.ExpiresOn.UTC()
	return c, err
}

// certObject is a certificate in the change feed.
func certObject(id string) object { return object{kindCertificate, id} }

// CreateCertificate stores a CA certificate for mutual TLS. The PEM must
// hold one CA certificate valid now; its hostnames are canonicalised.
func (s *Store) CreateCertificate(ctx context.Context, actor access.Actor, accountID string, spec access.CertificateSpec) (access.Certificate, error) {
	hosts, errs := access.ParseAssociatedHostnames("associated_hostnames", spec.AssociatedHostnames)
	if err := access.InvalidFields(errs); err != nil {
		return access.Certificate{}, err
	}
	var c access.Certificate
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		ca, err := access.ParseCACertificate("certificate", spec.Certificate, now)
		if err != nil {
			return err
		}
		id := uuid.NewString()
		_, err = tx.Exec(ctx, `
			INSERT INTO access_certificates (id, account_id, name, certificate, fingerprint, associated_hostnames,
			                                 expires_on, revision, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8)`,
			id, accountID, spec.Name, spec.Certificate, ca.Fingerprint, hosts, ca.Cert.NotAfter.UTC(), now)
		if err != nil {
			return err
		}
		if c, err = getCert(ctx, tx, accountID, id); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "create", resourceType: "certificate", resourceID: id, after: c}, certObject(id))
	})
	return c, wrap("create certificate", err)
}

// GetCertificate returns one certificate.
func (s *Store) GetCertificate(ctx context.Context, accountID, id string) (access.Certificate, error) {
	c, err := getCert(ctx, s.db(ctx), accountID, id)
	return c, wrap("get certificate", err)
}

func getCert(ctx context.Context, q querier, accountID, id string) (access.Certificate, error) {
	c, err := scanCert(q.QueryRow(ctx, `SELECT `+certColumns+` FROM access_certificates c WHERE c.account_id = $1 AND c.id = $2`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Certificate{}, notFound("certificate")
	}
	return c, err
}

// ListCertificates returns one page of an account's certificates, oldest
// first. An account has a few, so the page is read with an offset.
func (s *Store) ListCertificates(ctx context.Context, accountID string, pg access.Page) ([]access.Certificate, access.ListInfo, error) {
	rows, err := s.db(ctx).Query(ctx, `SELECT `+certColumns+`, count(*) OVER () FROM access_certificates c
		WHERE c.account_id = $1 ORDER BY c.created_at, c.id LIMIT $2 OFFSET $3`, accountID, pg.PerPage, pg.Offset())
	if err != nil {
		return nil, access.ListInfo{}, wrap("list certificates", err)
	}
	defer rows.Close()
	certs := []access.Certificate{}
	total := 0
	for rows.Next() {
		c, err := scanCert(rows, &total)
		if err != nil {
			return nil, access.ListInfo{}, wrap("list certificates", err)
		}
		certs = append(certs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, access.ListInfo{}, wrap("list certificates", err)
	}
	total, err = pageTotal(ctx, s.db(ctx), len(certs), total, `SELECT count(*) FROM access_certificates WHERE account_id = $1`, accountID)
	if err != nil {
		return nil, access.ListInfo{}, wrap("count certificates", err)
	}
	return certs, access.NewListInfo(pg, len(certs), total), nil
}

// UpdateCertificate replaces a certificate's hostnames and, when given,
// its name. The CA itself never changes: a new CA is a new certificate.
func (s *Store) UpdateCertificate(ctx context.Context, actor access.Actor, accountID, id string, ifRevision int64, upd access.CertificateUpdate) (access.Certificate, error) {
	hosts, errs := access.ParseAssociatedHostnames("associated_hostnames", upd.AssociatedHostnames)
	if err := access.InvalidFields(errs); err != nil {
		return access.Certificate{}, err
	}
	var c access.Certificate
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		before, err := lockCert(ctx, tx, accountID, id, ifRevision)
		if err != nil {
			return err
		}
		name := before.Name
		if upd.Name != nil {
			name = *upd.Name
		}
		if _, err := tx.Exec(ctx, `UPDATE access_certificates SET name = $3, associated_hostnames = $4,
			revision = revision + 1, updated_at = $5 WHERE account_id = $1 AND id = $2`, accountID, id, name, hosts, now); err != nil {
			return err
		}
		if c, err = getCert(ctx, tx, accountID, id); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "update", resourceType: "certificate", resourceID: id, before: before, after: c}, certObject(id))
	})
	return c, wrap("update certificate", err)
}

// DeleteCertificate deletes a certificate and returns it: client
// certificates it signed stop satisfying any rule at once.
func (s *Store) DeleteCertificate(ctx context.Context, actor access.Actor, accountID, id string, ifRevision int64) (access.Certificate, error) {
	var before access.Certificate
	err := s.inTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var err error
		if before, err = lockCert(ctx, tx, accountID, id, ifRevision); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM access_certificates WHERE account_id = $1 AND id = $2`, accountID, id); err != nil {
			return err
		}
		return record(ctx, tx, now, actor, change{accountID: accountID, action: "delete", resourceType: "certificate", resourceID: id, before: before}, certObject(id))
	})
	return before, wrap("delete certificate", err)
}

func lockCert(ctx context.Context, tx pgx.Tx, accountID, id string, ifRevision int64) (access.Certificate, error) {
	c, err := scanCert(tx.QueryRow(ctx, `SELECT `+certColumns+` FROM access_certificates c WHERE c.account_id = $1 AND c.id = $2 FOR UPDATE`, accountID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Certificate{}, notFound("certificate")
	}
	if err != nil {
		return access.Certificate{}, err
	}
	if ifRevision != 0 && ifRevision != c.Revision {
		return access.Certificate{}, access.Errorf(access.EPreconditionFailed, "the certificate was changed since it was read (If-Match does not match its ETag)")
	}
	return c, nil
}

// loadEdgeCertificates reads the certificates matching where (a
// condition on access_certificates with one parameter, arg) as the edge
// uses them: the CA's DER, parsed from the stored PEM.
func loadEdgeCertificates(ctx context.Context, q querier, where string, arg any) ([]access.CertificateCredential, error) {
	rows, err := q.Query(ctx, `SELECT id, account_id, name, certificate, fingerprint, associated_hostnames
		FROM access_certificates WHERE `+where+` ORDER BY created_at, id`, arg)
	if err != nil {
		return nil, err
	}
	var out []access.CertificateCredential
	var c access.CertificateCredential
	var pemText string
	_, err = pgx.ForEachRow(rows, []any{&c.ID, &c.AccountID, &c.Name, &pemText, &c.Fingerprint, &c.AssociatedHostnames}, func() error {
		c.DER = access.CertificateDER(pemText)
		out = append(out, c)
		c = access.CertificateCredential{}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
