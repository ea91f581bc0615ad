package line

import (
	"math"
	"testing"
)

func TestAppendJSNumber(t *testing.T) {
	for f, want := range map[float64]string{
		0: "0", math.Copysign(0, -1): "0", 1: "1", -1.5: "-1.5", 0.30000000000000004: "0.30000000000000004",
		123456789.123: "123456789.123", 1e20: "100000000000000000000", 1e21: "1e+21", 1e-7: "1e-7",
		5e-8: "5e-8", 1.5000000000000002e25: "1.5000000000000002e+25", 0.000001: "0.000001",
		1.25e-6: "0.00000125", 282.5: "282.5", math.NaN(): "NaN", math.Inf(1): "Infinity", math.Inf(-1): "-Infinity",
		1795572976: "1795572976", 1e300: "1e+300", 12e20: "1.2e+21",
	} {
		if got := string(AppendJSNumber(nil, f)); got != want {
			t.Errorf("String(%v) = %q, want %q", f, got, want)
		}
	}
}
