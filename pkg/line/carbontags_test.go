package line

import "testing"

func TestNormalizeCarbonTags(t *testing.T) {
	tests := []struct {
		in, out string
		ok      bool
	}{
		{"a.b", "a.b", true},
		{"~a.b", "a.b", true},
		{"servers.api585;timers=mem;p99=mem", "servers.api585;p99=mem;timers=mem", true},
		{"a;x=1;x=2", "a;x=2", true},
		{"a;name=zzz;b=1", "a;b=1", true},
		{"a;a-=x;a=x", "a;a-=x;a=x", true},
		{`m{b="2",a="1"}`, "m;a=1;b=2", true},
		{`m{a="q\"uote"}`, `m;a=q"uote`, true},
		{";a=b", ";a=b", false},
		{"a;b", "a;b", false},
		{"a;b=~x", "a;b=~x", false},
		{"a;b!=x", "a;b!=x", false},
		{"~", "~", false},
		{`m{a=1}"}`, `m{a=1}"}`, false},
	}
	for _, tt := range tests {
		got, ok := NormalizeCarbonTags(tt.in)
		if got != tt.out || ok != tt.ok {
			t.Errorf("NormalizeCarbonTags(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.out, tt.ok)
		}
	}
}
