package access

import (
	"net"
	"strconv"
	"strings"
)

// HostHeaderErrors lower-cases http_host_header and checks the app's choice of the Host sent to the origin:
// http_host_header must be a host name or IP address with an optional
// port, and it and preserve_host_header are exclusive (one sends a fixed
// Host, the other the client's).
func (s *AppSettings) HostHeaderErrors() []FieldError {
	var errs []FieldError
	if s.HTTPHostHeader != "" {
		s.HTTPHostHeader = strings.ToLower(s.HTTPHostHeader)
		if !ValidHostHeader(s.HTTPHostHeader) {
			errs = append(errs, FieldError{Field: "http_host_header", Message: "must be a host name or IP address with an optional port, such as app.internal or 10.0.0.5:8080"})
		}
		if s.PreserveHostHeader {
			errs = append(errs, FieldError{Field: "preserve_host_header", Message: "cannot be true while http_host_header is set: the origin is sent one Host"})
		}
	}
	return errs
}

// ValidHostHeader reports whether s is a Host header value Gatehouse
// sends: a lower-case host name, an IPv4 address or a bracketed IPv6
// address, with an optional port (1-65535).
func ValidHostHeader(s string) bool {
	if len(s) > 260 || s != strings.ToLower(s) {
		return false // lower-case throughout, IPv6 hex digits too ([::A] is not)
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return false
		}
		if strings.HasPrefix(s, "[") || strings.Contains(host, ":") {
			return strings.HasPrefix(s, "[") && strings.Contains(host, ":") && net.ParseIP(host) != nil
		}
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return net.ParseIP(s[1:len(s)-1]) != nil && strings.Contains(s, ":")
	}
	if strings.Contains(host, ":") || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.To4() != nil
	}
	return len(host) <= 253 && host == strings.ToLower(host) && dnsName.MatchString(strings.TrimSuffix(host, "."))
}
