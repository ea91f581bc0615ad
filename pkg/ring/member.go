package ring

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Member is one destination of a ring.
type Member struct {
	Host     string // host name or IP, as configured
	Port     int
	Instance string // optional instance name
	// HashKey, when set, replaces the identity an algorithm hashes for this
	// member's ring points (the seed's `hashkeys`), so a ring can mirror an
	// existing configuration exactly. See docs/hashing.md for each algorithm.
	HashKey string
}

// Addr returns host:port.
func (m Member) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// String returns host:port, followed by =instance when there is one.
func (m Member) String() string {
	if m.Instance != "" {
		return m.Addr() + "=" + m.Instance
	}
	return m.Addr()
}

// ParseMember reads a member as carbon-c-relay writes it, `host:port` or
// `host:port=instance`, or as carbon-relay.py's DESTINATIONS write it,
// `host:port:instance`. IPv6 hosts go in brackets: `[::1]:2003=a`.
func ParseMember(s string) (Member, error) {
	var m Member
	addr := s
	if i := strings.LastIndexByte(s, '='); i >= 0 {
		addr, m.Instance = s[:i], s[i+1:]
		if m.Instance == "" {
			return Member{}, fmt.Errorf("member %q: empty instance after '='", s)
		}
	} else if !strings.HasPrefix(s, "[") && strings.Count(s, ":") == 2 {
		i := strings.LastIndexByte(s, ':')
		addr, m.Instance = s[:i], s[i+1:]
		if m.Instance == "" {
			return Member{}, fmt.Errorf("member %q: empty instance after the port", s)
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Member{}, fmt.Errorf("member %q: want host:port[=instance]: %w", s, err)
	}
	if host == "" {
		return Member{}, fmt.Errorf("member %q: empty host", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return Member{}, fmt.Errorf("member %q: port %q is not a number from 1 to 65535", s, port)
	}
	m.Host, m.Port = host, p
	return m, nil
}

// ParseMembers parses each of ss with ParseMember.
func ParseMembers(ss []string) ([]Member, error) {
	ms := make([]Member, 0, len(ss))
	for _, s := range ss {
		m, err := ParseMember(s)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}
