// Package graph draws a render's series as an image (format=png or svg), with
// graphite-web 1.1.8's main graph parameters and defaults, in pure Go
// (gonum.org/v1/plot; no cairo). docs/query-api.md lists what is drawn and
// how it differs from graphite-web's cairo images.
package graph

import (
	"fmt"
	"image/color"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Options are the graph parameters of a render request.
type Options struct {
	Width, Height  int
	Title, VTitle  string
	AreaMode       string // none, first, all, stacked
	LineMode       string // slope, staircase, connected
	LineWidth      float64
	Colors         []color.NRGBA // colorList: series take them in turn
	Background     color.NRGBA   // bgcolor
	Foreground     color.NRGBA   // fgcolor: text, axes, legend
	MajorGrid      color.NRGBA   // majorGridLineColor
	MinorGrid      color.NRGBA   // minorGridLineColor
	YMin, YMax     float64       // NaN: from the data
	LogBase        float64       // 0: linear
	MinorY         int           // minor grid lines between two major ones
	FontSize       float64
	HideLegend     bool
	HideAxes       bool
	HideGrid       bool
	GraphOnly      bool
	DrawNullAsZero bool
	Location       *time.Location // of the x axis' labels
}

// legendMaxItems is graphite-web's LEGEND_MAX_ITEMS: with more series the
// legend is hidden unless hideLegend=false says otherwise.
const legendMaxItems = 10

// Bounds of an image: larger requests are refused with 400 before anything is
// drawn (an RGBA image of MaxPixels takes 4 bytes a pixel).
const (
	MaxSide   = 8000
	MaxPixels = 4_000_000
)

// colorAliases are graphite-web's colour names (render/glyph.py).
var colorAliases = map[string]color.NRGBA{
	"black": {0, 0, 0, 255}, "white": {255, 255, 255, 255}, "blue": {100, 100, 255, 255}, "green": {0, 200, 0, 255},
	"red": {200, 0, 50, 255}, "yellow": {255, 255, 0, 255}, "orange": {255, 165, 0, 255}, "purple": {200, 100, 255, 255},
	"brown": {150, 100, 50, 255}, "cyan": {0, 255, 255, 255}, "aqua": {0, 150, 150, 255}, "gray": {175, 175, 175, 255},
	"grey": {175, 175, 175, 255}, "magenta": {255, 0, 255, 255}, "pink": {255, 100, 100, 255}, "gold": {200, 200, 0, 255},
	"rose": {200, 150, 200, 255}, "darkblue": {0, 0, 255, 255}, "darkgreen": {0, 255, 0, 255}, "darkred": {255, 0, 0, 255},
	"darkgray": {111, 111, 111, 255}, "darkgrey": {111, 111, 111, 255},
}

// The default template of graphite-web 1.1.8 (graphTemplates.conf [default]).
const defaultColorList = "blue,green,red,purple,brown,yellow,aqua,grey,magenta,pink,gold,rose"

// ParseColor reads a colour as graphite-web does: a name of colorAliases,
// or hex RRGGBB or RRGGBBAA with an optional leading # (or %23).
func ParseColor(s string) (color.NRGBA, error) {
	if c, ok := colorAliases[s]; ok {
		return c, nil
	}
	h := strings.TrimPrefix(strings.TrimPrefix(s, "#"), "%23")
	if len(h) == 6 || len(h) == 8 {
		v, err := strconv.ParseUint(h, 16, 32)
		if err == nil {
			if len(h) == 6 {
				return color.NRGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}, nil
			}
			return color.NRGBA{uint8(v >> 24), uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
		}
	}
	return color.NRGBA{}, fmt.Errorf("%q is not a colour: want a name (%s...) or hex RRGGBB", s, "blue, red, black")
}

// ParseOptions reads the graph parameters of a render request for n series.
// An error names the parameter.
func ParseOptions(form url.Values, n int) (Options, error) {
	o := Options{Width: 330, Height: 250, AreaMode: "none", LineMode: "slope", LineWidth: 1.2, MinorY: 1, FontSize: 10,
		YMin: math.NaN(), YMax: math.NaN(), HideLegend: n > legendMaxItems, Location: time.UTC}
	var err error
	get := form.Get
	integer := func(key string, dst *int, lo, hi int) {
		if v := get(key); v != "" && err == nil {
			f, e := strconv.ParseFloat(v, 64)
			if e != nil || f < float64(lo) || f > float64(hi) {
				err = fmt.Errorf("invalid %s %q: want a number from %d to %d", key, v, lo, hi)
				return
			}
			*dst = int(f)
		}
	}
	float := func(key string, dst *float64) {
		if v := get(key); v != "" && err == nil {
			f, e := strconv.ParseFloat(v, 64)
			if e != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				err = fmt.Errorf("invalid %s %q: want a number", key, v)
				return
			}
			*dst = f
		}
	}
	boolean := func(key string, dst *bool) {
		switch strings.ToLower(get(key)) {
		case "":
		case "true", "1", "yes", "on":
			*dst = true
		case "false", "0", "no", "off":
			*dst = false
		default:
			if err == nil {
				err = fmt.Errorf("invalid %s %q: want true or false", key, get(key))
			}
		}
	}
	colour := func(key, def string, dst *color.NRGBA) {
		v := get(key)
		if v == "" {
			v = def
		}
		if c, e := ParseColor(v); e != nil && err == nil {
			err = fmt.Errorf("invalid %s: %v", key, e)
		} else {
			*dst = c
		}
	}
	integer("width", &o.Width, 1, MaxSide)
	integer("height", &o.Height, 1, MaxSide)
	integer("minorY", &o.MinorY, 0, 100)
	float("lineWidth", &o.LineWidth)
	float("fontSize", &o.FontSize)
	float("yMin", &o.YMin)
	float("yMax", &o.YMax)
	float("logBase", &o.LogBase)
	boolean("hideLegend", &o.HideLegend)
	boolean("hideAxes", &o.HideAxes)
	boolean("hideGrid", &o.HideGrid)
	boolean("graphOnly", &o.GraphOnly)
	boolean("drawNullAsZero", &o.DrawNullAsZero)
	colour("bgcolor", "white", &o.Background)
	colour("fgcolor", "black", &o.Foreground)
	colour("majorGridLineColor", "rose", &o.MajorGrid)
	colour("minorGridLineColor", "grey", &o.MinorGrid)
	o.Title, o.VTitle = get("title"), get("vtitle")
	list := get("colorList")
	if list == "" {
		list = defaultColorList
	}
	for _, name := range strings.Split(list, ",") {
		c, e := ParseColor(strings.TrimSpace(name))
		if e != nil && err == nil {
			err = fmt.Errorf("invalid colorList: %v", e)
		}
		o.Colors = append(o.Colors, c)
	}
	if v := strings.ToLower(get("areaMode")); v != "" {
		o.AreaMode = v
	}
	if v := strings.ToLower(get("lineMode")); v != "" {
		o.LineMode = v
	}
	switch {
	case err != nil:
		return o, err
	case o.Width*o.Height > MaxPixels:
		return o, fmt.Errorf("width × height is %d pixels: at most %d", o.Width*o.Height, MaxPixels)
	case o.AreaMode != "none" && o.AreaMode != "first" && o.AreaMode != "all" && o.AreaMode != "stacked":
		return o, fmt.Errorf("invalid areaMode %q: want none, first, all or stacked", get("areaMode"))
	case o.LineMode != "slope" && o.LineMode != "staircase" && o.LineMode != "connected":
		return o, fmt.Errorf("invalid lineMode %q: want slope, staircase or connected", get("lineMode"))
	case o.LineWidth <= 0 || o.LineWidth > 100:
		return o, fmt.Errorf("invalid lineWidth %v: want more than 0, at most 100", o.LineWidth)
	case o.FontSize <= 0 || o.FontSize > 200:
		return o, fmt.Errorf("invalid fontSize %v: want more than 0, at most 200", o.FontSize)
	case o.LogBase != 0 && o.LogBase <= 1:
		return o, fmt.Errorf("invalid logBase %v: want more than 1", o.LogBase)
	case !math.IsNaN(o.YMin) && !math.IsNaN(o.YMax) && o.YMin >= o.YMax:
		return o, fmt.Errorf("yMin (%v) must be below yMax (%v)", o.YMin, o.YMax)
	}
	return o, nil
}
