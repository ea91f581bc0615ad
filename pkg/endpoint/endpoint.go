// Package endpoint parses the URLs consthash uses to name where lines are
// received or sent: tcp://host:port, udp://host:port, unix:///path and
// http://host:port/path.
package endpoint

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Scheme is a transport.
type Scheme string

// The transports.
const (
	TCP  Scheme = "tcp"
	UDP  Scheme = "udp"
	Unix Scheme = "unix"
	HTTP Scheme = "http"
)

// Endpoint is a parsed endpoint URL.
type Endpoint struct {
	Scheme Scheme
	Addr   string // host:port, or the socket path for unix
	Path   string // the URL path for http ("/" when none)
	raw    string
}

// String returns the URL as it was written.
func (e Endpoint) String() string { return e.raw }

// Network returns the name net.Listen and net.Dial use for the endpoint
// ("tcp", "udp", "unix"; "tcp" for http).
func (e Endpoint) Network() string {
	if e.Scheme == HTTP {
		return "tcp"
	}
	return string(e.Scheme)
}

// URL returns the http URL of an http endpoint.
func (e Endpoint) URL() string { return "http://" + e.Addr + e.Path }

// Parse reads one endpoint URL.
func Parse(s string) (Endpoint, error) {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("endpoint %q: %w", s, err)
	}
	e := Endpoint{Scheme: Scheme(strings.ToLower(u.Scheme)), raw: s}
	switch e.Scheme {
	case TCP, UDP, HTTP:
		if u.Host == "" {
			return Endpoint{}, fmt.Errorf("endpoint %q: want %s://host:port", s, e.Scheme)
		}
		if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
			return Endpoint{}, fmt.Errorf("endpoint %q: want %s://host:port (a port is required)", s, e.Scheme)
		}
		e.Addr = u.Host
		if e.Scheme == HTTP {
			e.Path = u.Path
			if e.Path == "" {
				e.Path = "/"
			}
		} else if u.Path != "" && u.Path != "/" {
			return Endpoint{}, fmt.Errorf("endpoint %q: %s endpoints take no path", s, e.Scheme)
		}
	case Unix:
		e.Addr = u.Host + u.Path
		if e.Addr == "" {
			return Endpoint{}, fmt.Errorf("endpoint %q: want unix:///path/to/socket", s)
		}
	default:
		return Endpoint{}, fmt.Errorf("endpoint %q: scheme %q is not one of tcp, udp, unix, http", s, u.Scheme)
	}
	return e, nil
}

// CheckHostPort checks a listen or dial address "host:port" (an
// Endpoint's Addr for tcp, udp and http): the port must be a number from 0
// to 65535 (0: any free port). Parse leaves this to the services, whose
// rules differ (the relay also refuses port 0 for a server).
func CheckHostPort(hostport string) error {
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("%q: want host:port: %w", hostport, err)
	}
	if n, err := strconv.ParseUint(port, 10, 32); err != nil || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", hostport, port)
	}
	return nil
}

// ParseList reads a comma-separated list of endpoint URLs.
func ParseList(s string) ([]Endpoint, error) {
	var es []Endpoint
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		e, err := Parse(part)
		if err != nil {
			return nil, err
		}
		es = append(es, e)
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("no endpoints in %q", s)
	}
	return es, nil
}
