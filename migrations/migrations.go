// Package migrations embeds Gatehouse's SQL schema migrations, applied in
// order by golang-migrate. A migration never changes after it has landed.
package migrations

import "embed"

// FS holds the NNNN_name.up.sql and NNNN_name.down.sql files.
//
//go:embed *.sql
var FS embed.FS
