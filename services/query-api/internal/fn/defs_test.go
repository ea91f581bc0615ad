package fn

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// TestDefinitionsAreGraphiteWebs checks what /functions answers for each
// function against graphite-web 1.1.8's own /functions (regen.sh's
// functions.json: without descriptions), byte for byte once both are
// re-encoded the same way: signature, group, parameters with their names,
// types, defaults, options and suggestions.
func TestDefinitionsAreGraphiteWebs(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/graphite-web-golden/functions.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	lib := New()
	defs := lib.Definitions()
	if len(defs) != len(lib.Names()) || len(defs) == 0 {
		t.Fatalf("%d definitions of %d functions", len(defs), len(lib.Names()))
	}
	for name, d := range defs {
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: graphite-web 1.1.8 has no such function", name)
			continue
		}
		if d.Description == "" || d.Module != "consthash.query-api" {
			t.Errorf("%s: description %q, module %q", name, d.Description, d.Module)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v: %s", name, err, b)
		}
		delete(got, "description")
		delete(got, "module")
		if g, w := canonical(t, got), canonical(t, w); !bytes.Equal(g, w) {
			t.Errorf("%s:\n got %s\nwant %s", name, g, w)
		}
	}
}

// canonical re-encodes JSON with sorted keys and numbers as written.
func canonical(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
