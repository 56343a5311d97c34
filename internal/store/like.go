package store

import "strings"

// Every LIKE and ILIKE pattern the store runs is built here, from
// literal text: PostgreSQL's LIKE treats %, _ and the escape character
// (backslash by default) specially, so a search for "%" must not match
// everything.

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// escapeLike makes s match literally in a LIKE pattern with the default
// escape character.
func escapeLike(s string) string { return likeEscaper.Replace(s) }

// containsPattern is the LIKE pattern for "contains s", or "" for an
// empty s (which the queries read as "no filter").
func containsPattern(s string) string {
	if s == "" {
		return ""
	}
	return "%" + escapeLike(s) + "%"
}
