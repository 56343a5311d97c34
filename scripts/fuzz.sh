#!/usr/bin/env bash
# Runs every Go fuzz target in the module for FUZZTIME each (default 10s),
# one at a time (go test -fuzz takes one target per run). Targets are found
# with go test -list, so a new Fuzz function is picked up without listing it.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-10s}"
go="${GO:-go}"
status=0
for pkg in $("$go" list ./...); do
	targets=$("$go" test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
	for t in $targets; do
		echo "== $pkg $t ($fuzztime)"
		if ! "$go" test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg"; then
			status=1
		fi
	done
done
exit $status
