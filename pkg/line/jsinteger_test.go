package line

import (
	"math"
	"strconv"
	"testing"
)

// TestJSIntegerFastPath: the integer fast path of jsNumber gives what
// strconv gives, -0 included, and leaves everything else to it.
func TestJSIntegerFastPath(t *testing.T) {
	for _, s := range []string{"0", "-0", "+0", "7", "+7", "-7", "007", "-007", "123456789012345", "-999999999999999",
		"1234567890123456", "99999999999999999999", "9007199254740993"} {
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsNumber([]byte(s)); math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("jsNumber(%q) = %v, want %v", s, got, want)
		}
	}
	for _, s := range []string{"", "-", "+", "1-", "1 ", " 1", "0x10", "1e3", "1.5", "--1", "+-1"} {
		if f, ok := jsInteger([]byte(s)); ok {
			t.Errorf("jsInteger(%q) = %v: not an integer it should take", s, f)
		}
	}
}

// TestSanitizeWholeKeys: a key sanitising keeps whole is copied as it is;
// one it changes goes the long way.
func TestSanitizeWholeKeys(t *testing.T) {
	for in, want := range map[string]string{"a.b-c_d;e=f": "a.b-c_d;e=f", "a b": "a_b", "a/b": "a-b", "a%b": "ab",
		"Ünï": "n", "": ""} {
		if got := string(sanitizeStatsdKey(nil, []byte(in))); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
