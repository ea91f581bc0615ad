package endpoint

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in               string
		scheme           Scheme
		addr, path, netw string
		err              string
	}{
		{in: "tcp://127.0.0.1:2003", scheme: TCP, addr: "127.0.0.1:2003", netw: "tcp"},
		{in: "UDP://[::1]:8125", scheme: UDP, addr: "[::1]:8125", netw: "udp"},
		{in: "unix:///tmp/x.sock", scheme: Unix, addr: "/tmp/x.sock", netw: "unix"},
		{in: "http://127.0.0.1:6004/lines", scheme: HTTP, addr: "127.0.0.1:6004", path: "/lines", netw: "tcp"},
		{in: "http://127.0.0.1:6004", scheme: HTTP, addr: "127.0.0.1:6004", path: "/", netw: "tcp"},
		{in: "tcp://127.0.0.1", err: "port is required"},
		{in: "tcp://:2003/x", err: "no path"},
		{in: "ftp://h:1", err: "not one of"},
		{in: "unix://", err: "want unix"},
		{in: "tcp://:http", err: "invalid port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := Parse(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || e.Scheme != tt.scheme || e.Addr != tt.addr || e.Path != tt.path || e.Network() != tt.netw || e.String() != tt.in {
				t.Fatalf("got %+v (%s), %v", e, e.Network(), err)
			}
		})
	}
	es, err := ParseList("tcp://127.0.0.1:1, udp://127.0.0.1:2,")
	if err != nil || len(es) != 2 {
		t.Fatalf("ParseList: %v %v", es, err)
	}
	if _, err := ParseList(" , "); err == nil {
		t.Fatal("empty list: want an error")
	}
}

func TestCheckHostPort(t *testing.T) {
	for in, ok := range map[string]bool{"127.0.0.1:8080": true, ":0": true, "[::1]:65535": true, "h:65536": false,
		"h:99999": false, "h": false, "h:x": false, "": false} {
		if err := CheckHostPort(in); (err == nil) != ok {
			t.Errorf("CheckHostPort(%q) = %v", in, err)
		}
	}
}
