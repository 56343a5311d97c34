package main

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
)

// localAPIURL is the URL a CLI on this machine reaches an API listening
// on addr at: an unspecified host (0.0.0.0, ::, none) is reached on
// loopback.
func localAPIURL(scheme, addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// printFirstRun tells the operator of a new installation how to point the
// CLI at it: the environment to paste, or a saved profile.
func printFirstRun(w io.Writer, apiURL, accountID, token string) {
	fmt.Fprintf(w, `To use the gatehouse CLI against it, paste into your shell:

  export GATEHOUSE_URL=%s GATEHOUSE_TOKEN=%s GATEHOUSE_ACCOUNT=%s

or save a profile instead (in ~/.config/gatehouse/config.yaml, mode 0600):

  gatehouse login --url %s --token %s
`, shellWord(apiURL), shellWord(token), shellWord(accountID), shellWord(apiURL), shellWord(token))
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
