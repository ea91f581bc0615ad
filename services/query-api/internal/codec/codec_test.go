package codec

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/consthash/consthash/services/query-api/internal/pyread"
)

func TestPythonReadsWhatWeWrite(t *testing.T) {
	long := string(bytes.Repeat([]byte("x"), 70000))
	v := []map[string]any{
		{"name": "a.b;dc=é", "start": int64(1700000000), "end": int64(1700003600), "step": 60,
			"values":         []float64{1.5, math.NaN(), -2, 0, 1e300},
			"pathExpression": "sumSeries(a.*)", "valuesPerPoint": 1, "consolidationFunc": "average", "xFilesFactor": 0.5},
		{"path": "x", "is_leaf": true, "intervals": []any{[]any{int64(-5), int64(3_000_000_000)}}, "none": nil, "f": false,
			"small": -32, "neg": -33, "big": int64(-1) << 40, "long": long, "mid": string(bytes.Repeat([]byte("y"), 200))},
		{},
	}
	many := make([]float64, 70000)
	v = append(v, map[string]any{"values": many})
	want, err := json.Marshal(jsonable(v))
	if err != nil {
		t.Fatal(err)
	}
	var w any
	json.Unmarshal(want, &w)
	p, err := Pickle(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Msgpack(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	for reader, b := range map[string][]byte{"pickle": p, "msgpack": m} {
		var got any
		if err := json.Unmarshal(pyread.JSON(t, reader, b), &got); err != nil {
			t.Fatalf("%s: %v", reader, err)
		}
		g, _ := json.Marshal(got)
		ww, _ := json.Marshal(w)
		if !bytes.Equal(g, ww) {
			t.Errorf("%s: Python read\n%.600s\nwant\n%.600s", reader, g, ww)
		}
	}
}

// jsonable is v with NaN as nil, as Python reads it (None).
func jsonable(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) {
			return nil
		}
	case []float64:
		out := make([]any, len(x))
		for i, f := range x {
			out[i] = jsonable(f)
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, m := range x {
			out[i] = jsonable(m)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = jsonable(e)
		}
		return out
	}
	return v
}

func TestUnsupportedTypeIsAnError(t *testing.T) {
	if _, err := Pickle(nil, struct{}{}); err == nil {
		t.Error("Pickle(struct{}{}) did not fail")
	}
	if _, err := Msgpack(nil, []any{make(chan int)}); err == nil {
		t.Error("Msgpack(chan) did not fail")
	}
}

// TestFloatListsAsBoxedOnes checks a []float64 is encoded byte for byte as
// the same values boxed in a []any (the general path), nulls and
// infinities included, in both encodings.
func TestFloatListsAsBoxedOnes(t *testing.T) {
	vals := []float64{0, 1, -1.5, math.NaN(), math.Inf(1), math.Inf(-1), 1e300, 5e-324}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 3000 { // past the 16-bit msgpack array length and pickle's batches
		vals = append(vals, math.Float64frombits(rng.Uint64()))
	}
	boxed := make([]any, len(vals))
	for i, v := range vals {
		boxed[i] = v
	}
	for name, enc := range map[string]func([]byte, any) ([]byte, error){"pickle": Pickle, "msgpack": Msgpack} {
		for _, n := range []int{0, 1, 15, 16, len(vals)} {
			got, err := enc(nil, map[string]any{"values": vals[:n]})
			if err != nil {
				t.Fatal(err)
			}
			want, err := enc(nil, map[string]any{"values": boxed[:n]})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s of %d floats differs from the boxed values'", name, n)
			}
		}
	}
}
