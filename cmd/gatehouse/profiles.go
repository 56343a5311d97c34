package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"go.yaml.in/yaml/v4"
)

// defaultProfile is the profile used when neither --profile nor
// GATEHOUSE_PROFILE names one, and the one login writes by default.
const defaultProfile = "default"

// profileName is what a profile may be called: it is a YAML key and
// appears in messages.
var profileName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// profile is one saved way to reach the API: what --url, --api-token and
// --account would say.
type profile struct {
	URL     string `yaml:"url"`
	Token   string `yaml:"token"`
	Account string `yaml:"account,omitempty"`
}

// cliConfig is the CLI's configuration file: named profiles.
type cliConfig struct {
	Profiles map[string]profile `yaml:"profiles"`
}

// configPath is where the CLI keeps its profiles:
// $XDG_CONFIG_HOME/gatehouse/config.yaml, else
// ~/.config/gatehouse/config.yaml.
func configPath(env func(string, string) string) (string, error) {
	if dir := env("XDG_CONFIG_HOME", ""); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "gatehouse", "config.yaml"), nil
	}
	home := env("HOME", "")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil || home == "" {
			return "", usageErrorf("cannot find the configuration directory: set HOME or XDG_CONFIG_HOME")
		}
	}
	return filepath.Join(home, ".config", "gatehouse", "config.yaml"), nil
}

// loadConfig reads the configuration file; a missing one is empty.
func loadConfig(path string) (*cliConfig, error) {
	c := &cliConfig{}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, usageErrorf("read %s: %v", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, usageErrorf("%s: %v", path, err)
	}
	return c, nil
}

// save writes the configuration file, readable by its owner only (it
// holds API tokens): the directory is made 0700 and the file 0600,
// replaced atomically.
func (c *cliConfig) save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return usageErrorf("create %s: %v", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return usageErrorf("chmod %s: %v", dir, err)
	}
	data, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml")
	if err != nil {
		return usageErrorf("write %s: %v", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return usageErrorf("write %s: %v", path, err)
	}
	if _, err := tmp.Write(append([]byte("# gatehouse CLI profiles (gatehouse login); holds API tokens: keep it 0600\n"), data...)); err != nil {
		tmp.Close()
		return usageErrorf("write %s: %v", path, err)
	}
	if err := tmp.Close(); err != nil {
		return usageErrorf("write %s: %v", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return usageErrorf("write %s: %v", path, err)
	}
	return nil
}

// names returns the profile names, sorted.
func (c *cliConfig) names() []string {
	out := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// selectedProfile names the profile to use: flag, else GATEHOUSE_PROFILE,
// else the default one. explicit says whether it was asked for, so that a
// missing one is an error rather than no profile.
func selectedProfile(flag string, env func(string, string) string) (name string, explicit bool) {
	if flag != "" {
		return flag, true
	}
	if v := env("GATEHOUSE_PROFILE", ""); v != "" {
		return v, true
	}
	return defaultProfile, false
}

// lookupProfile returns the selected profile, or nil when none is
// selected and the default one does not exist.
func lookupProfile(flag string, env func(string, string) string) (*profile, string, error) {
	name, explicit := selectedProfile(flag, env)
	path, err := configPath(env)
	if err != nil {
		if explicit {
			return nil, name, err
		}
		return nil, name, nil
	}
	c, err := loadConfig(path)
	if err != nil {
		return nil, name, err
	}
	p, ok := c.Profiles[name]
	if !ok {
		if explicit {
			return nil, name, usageErrorf("no profile %q in %s (profiles: %v); create it with gatehouse login --profile %s", name, path, c.names(), name)
		}
		return nil, name, nil
	}
	return &p, name, nil
}

// checkProfileName refuses a name that cannot be a profile.
func checkProfileName(name string) error {
	if !profileName.MatchString(name) {
		return usageErrorf("--profile %q: must be letters, digits, '.', '_' or '-' (at most 64)", name)
	}
	return nil
}

// describeProfile is a profile as `gatehouse profiles` lists it: never
// the token.
func describeProfile(name string, p profile, current bool) []string {
	mark := ""
	if current {
		mark = "*"
	}
	account := p.Account
	if account == "" {
		account = "(inferred)"
	}
	return []string{mark, name, p.URL, account}
}
