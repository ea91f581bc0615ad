package bus

import (
	"errors"
	"testing"
)

func TestParseBatchID(t *testing.T) {
	for _, tc := range []struct {
		in     string
		sender string
		seq    uint64
		ok     bool
	}{
		{"r1-abc.3 7", "r1-abc.3", 7, true},
		{BatchID("x", 18446744073709551615), "x", 18446744073709551615, true},
		{"", "", 0, false},
		{"x", "", 0, false},
		{" 5", "", 0, false},
		{"x 0", "", 0, false},
		{"x -1", "", 0, false},
		{"x 1 2", "", 0, false},
		{"a b 2", "", 0, false},
		{"x 18446744073709551616", "", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			sender, seq, err := ParseBatchID(tc.in)
			if !tc.ok {
				if !errors.Is(err, ErrBatchID) {
					t.Fatalf("ParseBatchID(%q) = %q, %d, %v; want ErrBatchID", tc.in, sender, seq, err)
				}
				return
			}
			if err != nil || sender != tc.sender || seq != tc.seq {
				t.Fatalf("ParseBatchID(%q) = %q, %d, %v; want %q, %d", tc.in, sender, seq, err, tc.sender, tc.seq)
			}
		})
	}
}

// FuzzParseBatchID: whatever parses formats back to the same value.
func FuzzParseBatchID(f *testing.F) {
	for _, s := range []string{"r1-abc.3 7", "x 1", "", "x", " 5", "x 0", "a b 2", "x 00012"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sender, seq, err := ParseBatchID(v)
		if err != nil {
			return
		}
		if sender == "" || seq == 0 {
			t.Fatalf("ParseBatchID(%q) = %q, %d without an error", v, sender, seq)
		}
		s2, q2, err := ParseBatchID(BatchID(sender, seq))
		if err != nil || s2 != sender || q2 != seq {
			t.Fatalf("round trip of %q: %q, %d, %v", v, s2, q2, err)
		}
	})
}
