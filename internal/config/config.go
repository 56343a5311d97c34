// Package config fills a command's flags from a YAML file. Every flag is
// a key of the file, spelled as the flag (api-addr: 127.0.0.1:8080), so a
// flag added to a command is configurable without code here. A flag given
// on the command line or through its environment variable wins over the
// file, and the file over the flag's default.
package config

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v4"
)

// EnvPrefix starts the environment variable of every flag but those in
// envExceptions.
const EnvPrefix = "GATEHOUSE_"

// envExceptions are the flags whose environment variable is not
// GATEHOUSE_<FLAG>: names that other tools already use.
var envExceptions = map[string]string{
	"database-url": "DATABASE_URL",
}

// EnvName returns the environment variable that sets the flag name:
// DATABASE_URL for --database-url, else GATEHOUSE_ and the name in upper
// case with "-" as "_" (--api-addr: GATEHOUSE_API_ADDR).
func EnvName(name string) string {
	if e, ok := envExceptions[name]; ok {
		return e
	}
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Skipped are flags that are never keys of a file: the file cannot name
// another file, and help is not configuration.
var Skipped = []string{"config", "help", "version"}

// LoadFile reads the YAML file at path and applies it to fs (see Apply).
func LoadFile(fs *pflag.FlagSet, path string, getenv func(string) string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	return Apply(fs, path, data, getenv)
}

// Apply sets each flag of fs that the YAML mapping in data names, unless
// the flag was set on the command line (it is Changed) or its
// environment variable (EnvName) is set in getenv. A key that is not a
// flag of fs, a value of the wrong type, or anything but a mapping of
// names to scalars or lists is an error that names the key and its line;
// the command must not run then. A key with no value (null) leaves the flag's
// default. name names the file in errors.
func Apply(fs *pflag.FlagSet, name string, data []byte, getenv func(string) string) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config file %s: %w", name, err)
	}
	if doc.Kind == 0 || (doc.Kind == yaml.DocumentNode && len(doc.Content) == 0) {
		return nil // empty file
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("config file %s, line %d: must be a mapping of flag names to values (api-addr: 127.0.0.1:8080)", name, root.Line)
	}
	type setting struct {
		flag  *pflag.Flag
		items []string // for a list
		value string
		list  bool
	}
	var settings []setting
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("config file %s, line %d: a key must be a flag name", name, k.Line)
		}
		key := k.Value
		at := fmt.Sprintf("config file %s, line %d: key %q", name, k.Line, key)
		if line, dup := seen[key]; dup {
			return fmt.Errorf("%s: given twice (first on line %d)", at, line)
		}
		seen[key] = k.Line
		f := fs.Lookup(key)
		if f == nil || slices.Contains(Skipped, key) {
			return fmt.Errorf("%s: unknown key%s", at, suggest(fs, key))
		}
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		_, isSlice := f.Value.(pflag.SliceValue)
		s := setting{flag: f}
		switch {
		case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null":
			continue
		case v.Kind == yaml.ScalarNode:
			s.value = v.Value
		case v.Kind == yaml.SequenceNode && isSlice:
			s.list = true
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return fmt.Errorf("%s: every item of the list must be a single value", at)
				}
				s.items = append(s.items, item.Value)
			}
		case v.Kind == yaml.SequenceNode:
			return fmt.Errorf("%s: a list, but the flag takes one %s", at, typeName(f))
		default:
			return fmt.Errorf("%s: a mapping, but the flag takes %s", at, typeName(f))
		}
		settings = append(settings, s)
	}
	for _, s := range settings {
		if s.flag.Changed || getenv(EnvName(s.flag.Name)) != "" {
			continue
		}
		var err error
		if s.list {
			err = s.flag.Value.(pflag.SliceValue).Replace(s.items)
		} else {
			err = s.flag.Value.Set(s.value)
		}
		if err != nil {
			return fmt.Errorf("config file %s, line %d: key %q: not a valid %s: %v", name, seen[s.flag.Name], s.flag.Name, typeName(s.flag), err)
		}
		s.flag.Changed = true
	}
	return nil
}

// typeName says what a flag takes, in words.
func typeName(f *pflag.Flag) string {
	switch t := f.Value.Type(); t {
	case "duration":
		return "duration (such as 5s, 1m30s or 720h)"
	case "bool":
		return "boolean (true or false)"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "whole number"
	case "float32", "float64":
		return "number"
	case "stringSlice", "stringArray":
		return "list of strings"
	case "durationSlice":
		return "list of durations"
	default:
		return t
	}
}

// suggest returns ` (did you mean "api-addr"?)` for the flag of fs
// closest to key, if one is close.
func suggest(fs *pflag.FlagSet, key string) string {
	best, bestDist := "", -1
	fs.VisitAll(func(f *pflag.Flag) {
		if slices.Contains(Skipped, f.Name) {
			return
		}
		d := distance(strings.ReplaceAll(strings.ToLower(key), "_", "-"), f.Name)
		if bestDist < 0 || d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" || bestDist > max(2, len(key)/3) {
		return " (it is not a flag of this command)"
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
