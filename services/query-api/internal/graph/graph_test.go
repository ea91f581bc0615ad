package graph

import (
	"bytes"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/url"
	"strings"
	"testing"
)

func opts(t *testing.T, q string, n int) Options {
	t.Helper()
	form, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseOptions(form, n)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func ramp(name string, n int, f func(i int) float64) Series {
	s := Series{Name: name, Start: 1700000000, Step: 60, Values: make([]float64, n)}
	for i := range s.Values {
		s.Values[i] = f(i)
	}
	return s
}

func renderPNG(t *testing.T, list []Series, o Options) image.Image {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, "png", list, o); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// count returns how many pixels of img are c or within a few levels of it
// (antialiasing blends a line's edges; alpha ignored).
func count(img image.Image, c color.NRGBA) int {
	near := func(a uint32, b uint8) bool { return math.Abs(float64(a>>8)-float64(b)) <= 24 }
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, c.R) && near(g, c.G) && near(bl, c.B) {
				n++
			}
		}
	}
	return n
}

func TestPNGSizeBackgroundAndLines(t *testing.T) {
	list := []Series{ramp("a.b", 60, func(i int) float64 { return float64(i) }), ramp("c.d", 60, func(i int) float64 { return float64(60 - i) })}
	img := renderPNG(t, list, opts(t, "width=400&height=300&bgcolor=black&colorList=red,00ff00", 2))
	if b := img.Bounds(); b.Dx() != 400 || b.Dy() != 300 {
		t.Fatalf("image is %v, want 400x300", b)
	}
	for _, p := range []image.Point{{0, 0}, {399, 0}, {0, 299}, {399, 299}} {
		if r, g, b, _ := img.At(p.X, p.Y).RGBA(); r|g|b != 0 {
			t.Errorf("pixel %v is %v, want the black background", p, img.At(p.X, p.Y))
		}
	}
	red, green := colorAliases["red"], color.NRGBA{0, 255, 0, 255}
	if n := count(img, red); n < 100 {
		t.Errorf("%d pixels of the first series' red, want a line of them", n)
	}
	if n := count(img, green); n < 100 {
		t.Errorf("%d pixels of the second series' green, want a line of them", n)
	}
}

func TestAreaModeFillsUnderTheLine(t *testing.T) {
	flat := []Series{ramp("x", 30, func(int) float64 { return 10 })}
	o := opts(t, "width=200&height=200&hideLegend=true&hideGrid=true&colorList=blue&yMin=0&yMax=20", 1)
	line := count(renderPNG(t, flat, o), colorAliases["blue"])
	o.AreaMode = "all"
	area := count(renderPNG(t, flat, o), colorAliases["blue"])
	// Half the data area is under y=10 of 0..20: many times a line's pixels.
	if line == 0 || area < 20*line {
		t.Errorf("blue pixels: line %d, area %d; want the area to fill far more", line, area)
	}
	// Stacked: the second series sits on the first, so its colour shows
	// above it: both colours fill.
	two := []Series{ramp("x", 30, func(int) float64 { return 5 }), ramp("y", 30, func(int) float64 { return 5 })}
	o = opts(t, "width=200&height=200&hideLegend=true&hideGrid=true&colorList=blue,red&areaMode=stacked&yMin=0&yMax=20", 2)
	img := renderPNG(t, two, o)
	b, r := count(img, colorAliases["blue"]), count(img, colorAliases["red"])
	if b < 1000 || r < 1000 || math.Abs(float64(b-r)) > 0.2*float64(b) {
		t.Errorf("stacked: %d blue and %d red pixels, want two equal bands", b, r)
	}
}

func TestNullsBreakTheLineUnlessDrawnAsZero(t *testing.T) {
	holes := []Series{ramp("x", 40, func(i int) float64 {
		if i%2 == 0 {
			return math.NaN()
		}
		return 1
	})}
	o := opts(t, "width=200&height=100&hideLegend=true&hideGrid=true&hideAxes=true&colorList=red&yMin=0&yMax=2&lineWidth=2", 1)
	broken := count(renderPNG(t, holes, o), colorAliases["red"])
	o.DrawNullAsZero = true
	zero := count(renderPNG(t, holes, o), colorAliases["red"])
	if zero <= broken {
		t.Errorf("red pixels: %d with nulls as zero, %d with gaps; want more lines drawn as zero", zero, broken)
	}
}

func TestSVG(t *testing.T) {
	var b bytes.Buffer
	list := []Series{ramp("a", 10, func(i int) float64 { return float64(i) })}
	if err := Render(&b, "svg", list, opts(t, "width=500&height=250&title=Hello&colorList=ff0000", 1)); err != nil {
		t.Fatal(err)
	}
	var root struct {
		XMLName xml.Name
		Width   string `xml:"width,attr"`
		Height  string `xml:"height,attr"`
	}
	if err := xml.Unmarshal(b.Bytes(), &root); err != nil {
		t.Fatal(err)
	}
	if root.XMLName.Local != "svg" || root.Width != "500pt" || root.Height != "250pt" {
		t.Errorf("svg root %s %sx%s, want svg 500ptx250pt", root.XMLName.Local, root.Width, root.Height)
	}
	s := b.String()
	if !strings.Contains(s, "Hello") || !strings.Contains(strings.ToLower(s), "#ff0000") {
		t.Errorf("svg lacks the title or the series colour:\n%.500s", s)
	}
}

func TestParseOptionsErrorsNameTheParameter(t *testing.T) {
	for _, tc := range []struct{ q, want string }{
		{"width=0", "invalid width"},
		{"width=9000", "invalid width"},
		{"width=5000&height=5000", "pixels"},
		{"bgcolor=nope", "invalid bgcolor"},
		{"colorList=red,zz", "invalid colorList"},
		{"areaMode=sideways", "invalid areaMode"},
		{"lineMode=wavy", "invalid lineMode"},
		{"yMin=5&yMax=1", "yMin"},
		{"logBase=1", "invalid logBase"},
		{"hideLegend=maybe", "invalid hideLegend"},
		{"fontSize=NaN", "invalid fontSize"},
	} {
		form, _ := url.ParseQuery(tc.q)
		if _, err := ParseOptions(form, 1); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.q, err, tc.want)
		}
	}
	o := opts(t, "", 11)
	if !o.HideLegend || o.Width != 330 || o.Height != 250 || o.Background != colorAliases["white"] {
		t.Errorf("defaults %+v: want graphite-web's (330x250, white, legend hidden past 10 series)", o)
	}
	if c, _ := ParseColor("%23102030aa"); c != (color.NRGBA{0x10, 0x20, 0x30, 0xaa}) {
		t.Errorf("ParseColor(%%23102030aa) = %v", c)
	}
}

func TestHostileLayoutIsAnErrorNotAPanic(t *testing.T) {
	list := []Series{ramp("a", 10, func(i int) float64 { return float64(i) })}
	o := opts(t, "width=20&height=20&fontSize=200&title=big", 1)
	var b bytes.Buffer
	_ = Render(&b, "png", list, o) // an image or an error; never a panic
	b.Reset()
	if err := Render(&b, "gif", list, o); err == nil {
		t.Error("format gif accepted")
	}
	// Log scale with non-positive values and an empty list draw.
	o = opts(t, "logBase=10", 1)
	neg := []Series{ramp("n", 10, func(i int) float64 { return float64(i - 5) })}
	if err := Render(&b, "png", neg, o); err != nil {
		t.Error(err)
	}
	if err := Render(&b, "png", nil, o); err != nil {
		t.Error(err)
	}
}

func TestSeriesDrawOptions(t *testing.T) {
	o := opts(t, "width=200&height=120&hideLegend=true&hideGrid=true&hideAxes=true&colorList=blue&yMin=0&yMax=10", 2)
	// drawAsInfinite: a full-height line at the one non-zero value.
	inf := Series{Name: "deploys", Start: 1700000000, Step: 60, Values: []float64{0, 0, 1, 0, 0}, DrawAsInfinite: true, Color: "red", LineWidth: 2}
	img := renderPNG(t, []Series{ramp("x", 5, func(int) float64 { return 5 }), inf}, o)
	col := -1
	for x := range 200 {
		n := 0
		for y := range 120 {
			if r, g, b, _ := img.At(x, y).RGBA(); r>>8 > 180 && g>>8 < 60 && b>>8 < 80 {
				n++
			}
		}
		if n >= 110 {
			col = x
		}
	}
	if col < 0 {
		t.Error("drawAsInfinite: no red column the graph's height")
	}
	// Invisible (areaBetween's lower band) stacks but is not drawn; the
	// band above it starts at its top.
	low := ramp("low", 10, func(int) float64 { return 4 })
	low.Invisible = true
	high := ramp("high", 10, func(int) float64 { return 2 })
	high.Stacked, high.Color = true, "green"
	img = renderPNG(t, []Series{low, high}, o)
	if n := count(img, colorAliases["blue"]); n != 0 {
		t.Errorf("the invisible series drew %d pixels", n)
	}
	if n := count(img, colorAliases["green"]); n < 1000 {
		t.Errorf("the stacked band drew %d pixels, want a filled band", n)
	}
}
