package api

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenderImages asks for stored series as images, as graphite-web's
// composer or an <img> tag does, and decodes what comes back.
func TestRenderImages(t *testing.T) {
	srv := testAPI(t)
	q := url.Values{"target": {"stats_counts.app.req"}, "from": {"-1h"}, "until": {"now"}, "format": {"png"},
		"width": {"640"}, "height": {"480"}, "bgcolor": {"000000"}, "colorList": {"00ff00"}, "title": {"requests"}}
	resp, err := http.Get(srv.URL + "/render?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	img, err := png.Decode(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 480 {
		t.Fatalf("image %v, want 640x480", b)
	}
	if r, g, b, _ := img.At(1, 1).RGBA(); r|g|b != 0 {
		t.Errorf("corner %v, want the black background", img.At(1, 1))
	}
	green := 0
	for y := range 480 {
		for x := range 640 {
			if r, g, b, _ := img.At(x, y).RGBA(); r>>8 < 40 && g>>8 > 215 && b>>8 < 40 {
				green++
			}
		}
	}
	if green < 200 {
		t.Errorf("%d green pixels: want the series' line", green)
	}

	q.Set("format", "svg")
	code, body := post(t, srv, "/render", q)
	if code != 200 || !strings.HasPrefix(strings.TrimSpace(body), "<?xml") || !strings.Contains(body, "requests") {
		t.Errorf("svg: %d %.200s", code, body)
	}
	// color() and lineWidth() on the series win over colorList.
	q2 := url.Values{"target": {`lineWidth(color(stats_counts.app.req,"ff0000"),3)`}, "from": {"-1h"}, "format": {"png"}, "colorList": {"00ff00"}, "hideLegend": {"true"}}
	resp2, err := http.Get(srv.URL + "/render?" + q2.Encode())
	if err != nil {
		t.Fatal(err)
	}
	img2, err := png.Decode(resp2.Body)
	resp2.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	red, green2 := 0, 0
	for y := range 250 {
		for x := range 330 {
			r, g, b, _ := img2.At(x, y).RGBA()
			if r>>8 > 215 && g>>8 < 40 && b>>8 < 40 {
				red++
			}
			if r>>8 < 40 && g>>8 > 215 && b>>8 < 40 {
				green2++
			}
		}
	}
	if red < 200 || green2 != 0 {
		t.Errorf("color(...,ff0000): %d red and %d green pixels, want the series red", red, green2)
	}
	for _, bad := range []url.Values{{"bgcolor": {"plaid"}}, {"width": {"100000"}}, {"areaMode": {"up"}}} {
		for k, v := range q {
			if bad.Get(k) == "" {
				bad[k] = v
			}
		}
		if code, body := post(t, srv, "/render", bad); code != 400 {
			t.Errorf("%v: %d %s, want 400", bad, code, body)
		}
	}
}

// TestDocsImages renders the images docs/query-api.md shows, from the test
// store through /render; UPDATE_DOCS_IMAGES=1 writes them to docs/images.
func TestDocsImages(t *testing.T) {
	srv := testAPI(t)
	for name, q := range map[string]string{
		"render-lines.png":   "target=stats_counts.app.req&target=scale(servers.web01.cpu,10)&from=-1h&width=500&height=250&title=requests+and+cpu&vtitle=per+minute",
		"render-stacked.png": "target=stats_counts.app.req&target=offset(scale(stats_counts.app.req,0.5),10)&from=-1h&width=500&height=250&areaMode=stacked&title=stacked",
		"render-dark.png":    "target=stats_counts.app.req&from=-1h&width=500&height=250&bgcolor=black&fgcolor=white&majorGridLineColor=darkgray&lineMode=staircase&lineWidth=2&colorList=gold&title=staircase",
	} {
		resp, err := http.Get(srv.URL + "/render?format=png&" + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := png.Decode(bytes.NewReader(b)); resp.StatusCode != 200 || err != nil {
			t.Fatalf("%s: %d %v", name, resp.StatusCode, err)
		}
		if os.Getenv("UPDATE_DOCS_IMAGES") == "1" {
			if err := os.WriteFile(filepath.Join("..", "..", "..", "..", "docs", "images", name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
