package store

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/access"
)

// SummarizeAccessLogs counts an account's access log entries in
// [since, until) into buckets of the given width (the first starting at
// since) and top lists of at most access.SummaryTop entries. It unnests
// only the chunks whose [first_at, last_at] overlaps the range, found
// through an index on last_at, each once: one GROUP BY GROUPING SETS pass
// makes every count. The caller bounds the range and the bucket count.
func (s *Store) SummarizeAccessLogs(ctx context.Context, accountID string, since, until time.Time, bucket time.Duration) (*access.AccessLogSummary, error) {
	secs := int64(bucket / time.Second)
	sum := &access.AccessLogSummary{Since: since, Until: until, BucketSeconds: secs}
	n := int((until.Sub(since) + bucket - 1) / bucket)
	sum.Buckets = make([]access.AccessLogBucket, n)
	for i := range sum.Buckets {
		sum.Buckets[i].Start = since.Add(time.Duration(i) * bucket)
	}
	sum.BlockReasons, sum.Apps, sum.Identities = []access.AccessLogReason{}, []access.AccessLogApp{}, []access.AccessLogIdentity{}
	rows, err := s.pool.Query(ctx, summarizeAccessLogsSQL, accountID, since, until, secs, access.SummaryTop)
	if err != nil {
		return nil, wrap("summarize access logs", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			dim, reason, appID, domain, email, tokenID, tokenName, action string
			b, requests, blocked, rank                                    int64
		)
		if err := rows.Scan(&dim, &b, &reason, &appID, &domain, &email, &tokenID, &tokenName, &action,
			&requests, &blocked, &rank); err != nil {
			return nil, wrap("summarize access logs", err)
		}
		switch dim {
		case "chunks":
			sum.ChunksRead = requests
		case "bucket":
			if b >= 0 && b < int64(n) {
				sum.Buckets[b].Allowed = requests - blocked
				sum.Buckets[b].Blocked = blocked
			}
			sum.Requests += requests
			sum.Blocked += blocked
		case "reason":
			sum.BlockReasons = append(sum.BlockReasons, access.AccessLogReason{Reason: reason, Blocked: blocked})
		case "app":
			sum.Apps = append(sum.Apps, access.AccessLogApp{AppID: appID, AppDomain: domain, Requests: requests, Blocked: blocked})
		case "identity":
			sum.Identities = append(sum.Identities, access.AccessLogIdentity{UserEmail: email, ServiceTokenID: tokenID,
				ServiceTokenName: tokenName, Requests: requests, Blocked: blocked})
		case "action":
			switch action {
			case "preflight_answered":
				sum.Preflights.Answered = requests
			case "preflight_bypassed":
				sum.Preflights.Bypassed = requests
			case "preflight_refused":
				sum.Preflights.Refused = requests
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("summarize access logs", err)
	}
	sum.Allowed = sum.Requests - sum.Blocked
	return sum, nil
}

// summarizeAccessLogsSQL counts the entries of account $1 in [$2, $3)
// into buckets of $4 seconds and top lists of $5. The chunks are found by
// their time span (the index on account_id, last_at), and only theirs
// are unnested; the 'chunks' row counts them again from the index.
const summarizeAccessLogsSQL = `
		WITH e AS (
			SELECT floor((extract(epoch FROM r.created_at) - extract(epoch FROM $2::timestamptz)) / $4)::bigint AS bucket,
			       r.allowed, r.action, r.reason, r.app_id, r.app_domain,
			       CASE WHEN r.service_token_id <> '' THEN '' ELSE r.user_email END AS email,
			       r.service_token_id, r.service_token_name
			FROM access_log_chunks c
			CROSS JOIN LATERAL unnest(c.created_at, c.allowed, c.action, c.reason, c.app_id, c.app_domain,
			    c.user_email, c.service_token_id, c.service_token_name)
			    AS r(created_at, allowed, action, reason, app_id, app_domain, user_email, service_token_id, service_token_name)
			WHERE c.account_id = $1 AND c.last_at >= $2 AND c.first_at < $3
			  AND r.created_at >= $2 AND r.created_at < $3),
		g AS (
			SELECT CASE WHEN GROUPING(bucket) = 0 THEN 'bucket' WHEN GROUPING(reason) = 0 THEN 'reason'
			            WHEN GROUPING(app_id) = 0 THEN 'app' WHEN GROUPING(email) = 0 THEN 'identity' ELSE 'action' END AS dim,
			       bucket, reason, app_id, max(app_domain) AS app_domain, email, service_token_id,
			       max(service_token_name) AS service_token_name, action,
			       count(*) AS requests, count(*) FILTER (WHERE NOT allowed) AS blocked
			FROM e
			GROUP BY GROUPING SETS ((bucket), (reason), (app_id), (email, service_token_id), (action))),
		ranked AS (
			SELECT g.*, row_number() OVER (
				PARTITION BY dim, (dim = 'identity' AND email = '' AND service_token_id = '') OR (dim = 'app' AND app_id = '')
				ORDER BY CASE WHEN dim = 'reason' THEN blocked ELSE requests END DESC,
				         reason, app_id, email, service_token_id) AS rank
			FROM g)
		SELECT dim, COALESCE(bucket, 0), COALESCE(reason, ''), COALESCE(app_id, ''), COALESCE(app_domain, ''),
		       COALESCE(email, ''), COALESCE(service_token_id, ''), COALESCE(service_token_name, ''), COALESCE(action, ''),
		       requests, blocked, rank
		FROM ranked
		WHERE dim IN ('bucket', 'action')
		   OR (rank <= $5 AND NOT (dim = 'reason' AND blocked = 0)
		       AND NOT (dim = 'identity' AND email = '' AND service_token_id = '') AND NOT (dim = 'app' AND app_id = ''))
		UNION ALL SELECT 'chunks', 0, '', '', '', '', '', '', '', count(*), 0, 0 FROM access_log_chunks
		WHERE account_id = $1 AND last_at >= $2 AND first_at < $3
		ORDER BY 1, 12`
