package graph

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Series is one line of a graph: values at Start, Start+Step, ... (NaN: no
// value).
type Series struct {
	Name   string
	Start  int64
	Step   int64
	Values []float64
	// What graphite's Graph functions ask for (zero values: unset).
	Color          string  // color(): a colour name or hex; else colorList's next
	Alpha          float64 // alpha(): opacity in (0, 1]
	LineWidth      float64 // lineWidth()
	Dashed         float64 // dashed(): dash length
	Stacked        bool    // stacked(): stacked as areaMode=stacked stacks
	Invisible      bool    // areaBetween()'s lower bound: stacked, not drawn
	DrawAsInfinite bool    // drawAsInfinite(): a full-height line where the value is not zero
}

// Render draws list as format ("png" or "svg") to w. One pixel of the image
// is one point of the drawing (72 dpi), so width and height are pixels in
// either format.
func Render(w io.Writer, format string, list []Series, o Options) error {
	var c vg.CanvasWriterTo
	width, height := vg.Points(float64(o.Width)), vg.Points(float64(o.Height))
	switch format {
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(72), vgimg.UseBackgroundColor(o.Background))}
	case "svg":
		c = vgsvg.New(width, height)
	default:
		return fmt.Errorf("graph format %q: want png or svg", format)
	}
	if err := draw1(draw.New(c), list, o); err != nil {
		return err
	}
	_, err := c.WriteTo(w)
	return err
}

func draw1(dc draw.Canvas, list []Series, o Options) (err error) {
	defer func() {
		// gonum/plot panics on what it cannot lay out (a font larger than
		// the image); a request must get an error, not kill the server.
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot draw the graph: %v", r)
		}
	}()
	dc.SetColor(o.Background)
	dc.Fill(dc.Rectangle.Path())
	p := plot.New()
	p.BackgroundColor = color.Transparent
	fs := font.Length(o.FontSize)
	style := func(ts *plot.Axis) {
		ts.Color, ts.LineStyle.Color, ts.Tick.LineStyle.Color = o.Foreground, o.Foreground, o.Foreground
		ts.Tick.Label.Color, ts.Label.TextStyle.Color = o.Foreground, o.Foreground
		ts.Tick.Label.Font.Size, ts.Label.TextStyle.Font.Size = fs, fs
	}
	style(&p.X)
	style(&p.Y)
	p.Title.TextStyle.Color, p.Title.TextStyle.Font.Size = o.Foreground, fs*1.2
	if !o.GraphOnly {
		p.Title.Text, p.Y.Label.Text = o.Title, o.VTitle
	}
	var from, until int64
	for i, s := range list {
		end := s.Start + s.Step*int64(len(s.Values))
		if i == 0 || s.Start < from {
			from = s.Start
		}
		if i == 0 || end > until {
			until = end
		}
	}
	p.X.Tick.Marker = plot.TimeTicks{Format: timeFormat(until - from), Time: func(t float64) time.Time { return time.Unix(int64(t), 0).In(o.Location) }}
	if o.LogBase > 1 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if !o.HideGrid && !o.HideAxes && !o.GraphOnly {
		p.Add(&grid{o: o})
	}
	legend := plot.NewLegend()
	legend.TextStyle.Color, legend.TextStyle.Font.Size = o.Foreground, fs
	legend.Left, legend.Top = true, true
	stacked := make([]float64, 0)
	lines := make([]plot.Plotter, 0, 2*len(list))
	var fills []plot.Plotter
	next := 0 // the colorList entry the next series without its own colour takes
	for _, s := range list {
		col := o.Colors[next%len(o.Colors)]
		if c, err := ParseColor(s.Color); s.Color != "" && err == nil {
			col = c
		} else {
			next++
		}
		if s.Alpha > 0 && s.Alpha <= 1 {
			col.A = uint8(math.Round(s.Alpha * 255))
		}
		width := o.LineWidth
		if s.LineWidth > 0 {
			width = s.LineWidth
		}
		if s.DrawAsInfinite {
			lines = append(lines, &infinite{s: s, ls: draw.LineStyle{Color: col, Width: vg.Points(width)}})
			legend.Add(s.Name, legendThumb{draw.LineStyle{Color: col}})
			continue
		}
		stack := o.AreaMode == "stacked" || s.Stacked || s.Invisible
		vals := make([]float64, len(s.Values))
		for j, v := range s.Values {
			switch {
			case math.IsNaN(v) && o.DrawNullAsZero:
				v = 0
			case o.LogBase > 1 && v <= 0:
				v = math.NaN() // not on a log scale; graphite-web leaves it out too
			}
			if stack && !math.IsNaN(v) { // a null is a gap in its band
				if j < len(stacked) {
					v += stacked[j]
					stacked[j] = v
				} else {
					stacked = append(stacked, make([]float64, j+1-len(stacked))...)
					stacked[j] = v
				}
			}
			vals[j] = v
		}
		if s.Invisible {
			continue
		}
		fill := o.AreaMode == "all" || stack || (o.AreaMode == "first" && len(fills)+len(lines) == 0)
		segs := segments(s, vals, o.LineMode)
		for _, seg := range segs {
			l, err := plotter.NewLine(seg)
			if err != nil {
				return err
			}
			l.Color, l.Width = col, vg.Points(width)
			if s.Dashed > 0 {
				l.Dashes = []vg.Length{vg.Points(s.Dashed), vg.Points(s.Dashed)}
			}
			if o.LineMode == "staircase" {
				l.StepStyle = plotter.PostStep
			}
			if fill {
				l.FillColor = col
				fills = append(fills, l)
			} else {
				lines = append(lines, l)
			}
		}
		if len(segs) > 0 || len(s.Values) > 0 {
			ls := draw.LineStyle{Color: col, Width: vg.Points(width)}
			legend.Add(s.Name, legendThumb{ls})
		}
	}
	// Areas first, the stacked ones from the top of the stack down, so each
	// is seen above the one under it; lines over the areas.
	for i := len(fills) - 1; i >= 0; i-- {
		p.Add(fills[i])
	}
	p.Add(lines...)
	if !math.IsNaN(o.YMin) {
		p.Y.Min = o.YMin
	}
	if !math.IsNaN(o.YMax) {
		p.Y.Max = o.YMax
	}
	if math.IsInf(p.Y.Min, 0) || math.IsInf(p.Y.Max, 0) { // no values
		p.Y.Min, p.Y.Max = 0, 1
	}
	if p.Y.Min >= p.Y.Max { // one flat value: graphite-web draws it mid-height
		p.Y.Min, p.Y.Max = p.Y.Min-1, p.Y.Max+1
	}
	if p.X.Min >= p.X.Max || math.IsInf(p.X.Min, 0) || math.IsInf(p.X.Max, 0) {
		p.X.Min, p.X.Max = float64(from), float64(max(until, from+1))
	}
	if o.LogBase > 1 && p.Y.Max <= 0 {
		p.Y.Max = 10
	}
	if o.LogBase > 1 && p.Y.Min <= 0 {
		p.Y.Min = math.Min(1, p.Y.Max/10)
	}
	if o.HideAxes || o.GraphOnly {
		p.HideAxes()
	}
	// The legend goes under the graph, as graphite-web draws it.
	area := dc
	if !o.HideLegend && !o.GraphOnly && len(list) > 0 {
		h := legendHeight(legend, len(list), dc)
		if h < dc.Size().Y/2 {
			lc := draw.Crop(dc, 0, 0, 0, -(dc.Size().Y - h))
			legend.Draw(lc)
			area = draw.Crop(dc, 0, 0, h, 0)
		}
	}
	p.Draw(area)
	return nil
}

// legendHeight is the room the legend's entries take, one a line.
func legendHeight(l plot.Legend, n int, dc draw.Canvas) vg.Length {
	r := l.Rectangle(dc)
	return r.Max.Y - r.Min.Y + vg.Points(4)
}

// segments returns the runs of non-null values as lines; with lineMode
// connected, nulls are skipped over instead of breaking the line.
func segments(s Series, vals []float64, mode string) []plotter.XYs {
	var out []plotter.XYs
	var cur plotter.XYs
	for j, v := range vals {
		t := float64(s.Start + int64(j)*s.Step)
		if math.IsNaN(v) {
			if mode != "connected" && len(cur) > 0 {
				out, cur = append(out, cur), nil
			}
			continue
		}
		cur = append(cur, plotter.XY{X: t, Y: v})
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	// A lone point is drawn as a step one interval wide, so it shows.
	for i, seg := range out {
		if len(seg) == 1 {
			out[i] = append(seg, plotter.XY{X: seg[0].X + float64(s.Step), Y: seg[0].Y})
		}
	}
	return out
}

// timeFormat is the x axis' label format for a range of span seconds.
func timeFormat(span int64) string {
	switch {
	case span <= 2*86400:
		return "15:04"
	case span <= 14*86400:
		return "01/02 15:04"
	default:
		return "2006-01-02"
	}
}

// infinite draws drawAsInfinite()'s series: a line the graph's full height
// at each time whose value is neither null nor zero.
type infinite struct {
	s  Series
	ls draw.LineStyle
}

func (f *infinite) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	for j, v := range f.s.Values {
		t := float64(f.s.Start + int64(j)*f.s.Step)
		if math.IsNaN(v) || v == 0 || t < p.X.Min || t > p.X.Max {
			continue
		}
		x := trX(t)
		c.StrokeLine2(f.ls, x, c.Min.Y, x, c.Max.Y)
	}
}

// DataRange gives the x range of the series (the y range is the others').
func (f *infinite) DataRange() (xmin, xmax, ymin, ymax float64) {
	end := f.s.Start + f.s.Step*int64(len(f.s.Values))
	return float64(f.s.Start), float64(end), math.Inf(1), math.Inf(-1)
}

// legendThumb is a legend entry's colour box.
type legendThumb struct{ ls draw.LineStyle }

func (t legendThumb) Thumbnail(c *draw.Canvas) {
	c.SetColor(t.ls.Color)
	c.Fill(c.Rectangle.Path())
}

// grid draws graphite's major grid lines at the labelled ticks and minorY
// minor lines between two major ones on the y axis.
type grid struct{ o Options }

func (g *grid) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	major := draw.LineStyle{Color: g.o.MajorGrid, Width: vg.Points(0.5)}
	minor := draw.LineStyle{Color: g.o.MinorGrid, Width: vg.Points(0.5)}
	for _, t := range p.X.Tick.Marker.Ticks(p.X.Min, p.X.Max) {
		if t.Label == "" || t.Value < p.X.Min || t.Value > p.X.Max {
			continue
		}
		x := trX(t.Value)
		c.StrokeLine2(major, x, c.Min.Y, x, c.Max.Y)
	}
	var ys []float64
	for _, t := range p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max) {
		if t.Label != "" {
			ys = append(ys, t.Value)
		}
	}
	for i, v := range ys {
		if v >= p.Y.Min && v <= p.Y.Max {
			y := trY(v)
			c.StrokeLine2(major, c.Min.X, y, c.Max.X, y)
		}
		if i+1 < len(ys) && g.o.MinorY > 0 && g.o.LogBase == 0 {
			step := (ys[i+1] - v) / float64(g.o.MinorY+1)
			for k := 1; k <= g.o.MinorY; k++ {
				y := trY(v + float64(k)*step)
				c.StrokeLine2(minor, c.Min.X, y, c.Max.X, y)
			}
		}
	}
}
