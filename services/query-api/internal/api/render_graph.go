package api

import (
	"bytes"
	"net/http"

	"github.com/consthash/consthash/services/query-api/internal/graph"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// writeGraph answers a render with format=png or svg: every series
// consolidated to at most one point a pixel of the image's width, as
// graphite-web does, and drawn by package graph.
func (a *API) writeGraph(w http.ResponseWriter, r *http.Request, format string, all []*series.Series, o graph.Options, timeRange int64) error {
	if r.Form.Get("hideLegend") == "" {
		o.HideLegend = len(all) > 10 // graphite-web's LEGEND_MAX_ITEMS
	}
	list := make([]graph.Series, 0, len(all))
	for _, s := range all {
		pts := s.Datapoints(o.Width, timeRange)
		d := s.Draw
		g := graph.Series{Name: s.Name, Start: s.Start, Step: s.Step, Values: make([]float64, len(pts)),
			Color: d.Color, Alpha: d.Alpha, LineWidth: d.LineWidth, Dashed: d.Dashed, Stacked: d.Stacked,
			Invisible: d.Invisible, DrawAsInfinite: d.DrawAsInfinite}
		if len(pts) > 0 {
			g.Start = pts[0].Time
		}
		if len(pts) > 1 {
			g.Step = pts[1].Time - pts[0].Time
		}
		for i, p := range pts {
			g.Values[i] = p.Value
		}
		list = append(list, g)
	}
	// Drawn into a buffer first: an error while drawing still gets a
	// status of its own.
	var img bytes.Buffer
	if err := graph.Render(&img, format, list, o); err != nil {
		textError(w, http.StatusBadRequest, "%v", err)
		return err
	}
	if format == "svg" {
		w.Header().Set("Content-Type", "image/svg+xml")
	} else {
		w.Header().Set("Content-Type", "image/png")
	}
	w.WriteHeader(http.StatusOK)
	_, err := img.WriteTo(w)
	return err
}
