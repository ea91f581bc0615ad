package graph

import (
	"bytes"
	"net/url"
	"testing"
)

// FuzzGraphOptions parses any query as graph parameters; whatever parses
// draws (small images, to keep the fuzzer fast) or errors, never panics.
func FuzzGraphOptions(f *testing.F) {
	for _, q := range []string{"", "width=100&height=50&bgcolor=%23abcdef&colorList=red,00ff00aa", "areaMode=stacked&lineMode=staircase",
		"logBase=2&yMin=-1&yMax=1e300", "fontSize=0.001&lineWidth=99&minorY=100", "hideLegend=false&graphOnly=true"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		form, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		o, err := ParseOptions(form, 3)
		if err != nil {
			return
		}
		o.Width, o.Height = min(o.Width, 120), min(o.Height, 80)
		list := []Series{{Name: "a", Start: 0, Step: 10, Values: []float64{1, -2, 3}}, {Name: "b", Start: 10, Step: 10, Values: []float64{0}}}
		var b bytes.Buffer
		_ = Render(&b, "png", list, o)
	})
}
