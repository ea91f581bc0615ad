package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"time"

	pb2 "github.com/go-graphite/protocol/carbonapi_v2_pb"
	pb3 "github.com/go-graphite/protocol/carbonapi_v3_pb"

	"github.com/consthash/consthash/services/query-api/internal/budget"
	"github.com/consthash/consthash/services/query-api/internal/expr"
	"github.com/consthash/consthash/services/query-api/internal/find"
	"github.com/consthash/consthash/services/query-api/internal/fn"
	"github.com/consthash/consthash/services/query-api/internal/series"
)

// carbonapi's backend protocols, so that carbonapi (and its zipper) can use
// query-api as a backend as it uses go-carbon:
//
//   - carbonapi_v3_pb: /metrics/find and /render take a protobuf
//     MultiGlobRequest or MultiFetchRequest as the body of a GET (or POST)
//     and answer a MultiGlobResponse or MultiFetchResponse; without a body
//     they read query= or target=, from= and until= as the other formats.
//   - carbonapi_v2_pb (alias protobuf): query= or target= in the URL, a
//     GlobResponse or MultiFetchResponse back.
//
// Render answers carry the series' values as read, unconsolidated, as
// pickle and msgpack do (carbonapi consolidates itself).
const (
	formatV3 = "carbonapi_v3_pb"
	formatV2 = "carbonapi_v2_pb"

	contentTypeV3 = "application/x-carbonapi-v3-pb"
	contentTypeV2 = "application/x-protobuf"
)

// The bounds of a carbonapi_v3_pb request (docs/query-api.md): its body,
// and the globs or fetches it holds. carbonapi sends max_batch_size (100 by
// default) names a request.
const (
	maxProtoBody     = 1 << 20
	maxProtoRequests = 10_000
)

// isProtoFormat reports whether format is one of carbonapi's protobuf ones.
func isProtoFormat(format string) bool {
	return format == formatV3 || format == formatV2 || format == "protobuf"
}

// errProtoRequest is a carbonapi_v3_pb body that cannot be read.
var errProtoRequest = errors.New("cannot read the carbonapi_v3_pb request")

// readProtoBody returns the request's body, at most maxProtoBody bytes
// (nil when it has none).
func readProtoBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxProtoBody))
	if err != nil {
		return nil, fmt.Errorf("%w: body: %v (at most %d bytes)", errProtoRequest, err, maxProtoBody)
	}
	return b, nil
}

// decodeGlobRequest reads a carbonapi_v3_pb find request: its patterns, each
// non-empty, at most maxProtoRequests.
func decodeGlobRequest(b []byte) ([]string, error) {
	var req pb3.MultiGlobRequest
	if err := req.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: %v", errProtoRequest, err)
	}
	if len(req.Metrics) == 0 {
		return nil, fmt.Errorf("%w: no metrics to find", errProtoRequest)
	}
	if len(req.Metrics) > maxProtoRequests {
		return nil, fmt.Errorf("%w: %d metrics to find, at most %d", errProtoRequest, len(req.Metrics), maxProtoRequests)
	}
	for _, m := range req.Metrics {
		if m == "" {
			return nil, fmt.Errorf("%w: an empty metric to find", errProtoRequest)
		}
	}
	return req.Metrics, nil
}

// decodeFetchRequest reads a carbonapi_v3_pb render request: its fetches,
// each with a name and a range of at least a second, at most
// maxProtoRequests.
func decodeFetchRequest(b []byte) ([]pb3.FetchRequest, error) {
	var req pb3.MultiFetchRequest
	if err := req.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("%w: %v", errProtoRequest, err)
	}
	if len(req.Metrics) == 0 {
		return nil, fmt.Errorf("%w: no metrics to fetch", errProtoRequest)
	}
	if len(req.Metrics) > maxProtoRequests {
		return nil, fmt.Errorf("%w: %d metrics to fetch, at most %d", errProtoRequest, len(req.Metrics), maxProtoRequests)
	}
	for _, m := range req.Metrics {
		if m.Name == "" {
			return nil, fmt.Errorf("%w: a fetch without a name", errProtoRequest)
		}
		if m.StartTime >= m.StopTime {
			return nil, fmt.Errorf("%w: %s: startTime %d is not before stopTime %d", errProtoRequest, clipQuote(m.Name), m.StartTime, m.StopTime)
		}
	}
	return req.Metrics, nil
}

// findProto answers /metrics/find in carbonapi's formats.
func (a *API) findProto(w http.ResponseWriter, r *http.Request, format string) {
	var queries []string
	if format == formatV3 {
		b, err := readProtoBody(w, r)
		if err != nil {
			badRequest(w, "%v", err)
			return
		}
		if len(b) > 0 {
			if queries, err = decodeGlobRequest(b); err != nil {
				badRequest(w, "%v", err)
				return
			}
		}
	}
	if queries == nil {
		q := r.FormValue("query")
		if q == "" {
			badRequest(w, "Missing required parameter 'query'")
			return
		}
		queries = []string{q}
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	out := pb3.MultiGlobResponse{Metrics: make([]pb3.GlobResponse, 0, len(queries))}
	for _, q := range queries {
		nodes, err := find.Find(ctx, a.r, q, a.cfg.MaxFind)
		if err != nil {
			badRequest(w, "query %s: %v", clipQuote(q), err)
			return
		}
		sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Path < nodes[j].Path })
		g := pb3.GlobResponse{Name: q, Matches: make([]pb3.GlobMatch, 0, len(nodes))}
		for _, n := range nodes {
			g.Matches = append(g.Matches, pb3.GlobMatch{Path: n.Path, IsLeaf: n.Leaf})
		}
		out.Metrics = append(out.Metrics, g)
	}
	var b []byte
	var err error
	if format == formatV3 {
		w.Header().Set("Content-Type", contentTypeV3)
		b, err = out.Marshal()
	} else {
		w.Header().Set("Content-Type", contentTypeV2)
		g := pb2.GlobResponse{Name: out.Metrics[0].Name, Matches: make([]pb2.GlobMatch, 0, len(out.Metrics[0].Matches))}
		for _, m := range out.Metrics[0].Matches {
			g.Matches = append(g.Matches, pb2.GlobMatch{Path: m.Path, IsLeaf: m.IsLeaf})
		}
		b, err = g.Marshal()
	}
	if err != nil {
		textError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Write(b)
}

// renderProtoBody answers a carbonapi_v3_pb render whose fetches are in the
// body: each fetch is a target (a path pattern, or seriesByTag(...)) over
// its own range. It reports false when the request has no body, for render
// to read target= and the rest from the URL.
func (a *API) renderProtoBody(w http.ResponseWriter, r *http.Request) bool {
	b, err := readProtoBody(w, r)
	if err != nil {
		badRequest(w, "%v", err)
		return true
	}
	if len(b) == 0 {
		return false
	}
	fetches, err := decodeFetchRequest(b)
	if err != nil {
		badRequest(w, "%v", err)
		return true
	}
	now := a.cfg.Now()
	ctx, cancel := a.ctx(r)
	defer cancel()
	ctx, release := a.withBudget(ctx)
	defer release()
	out := pb3.MultiFetchResponse{}
	fetched, total := 0, 0
	// The fetches over the first one's range are read at once (carbonapi
	// sends a batch of one dashboard's targets, usually all over one range).
	var patterns []string
	for _, f := range fetches {
		if f.StartTime == fetches[0].StartTime && f.StopTime == fetches[0].StopTime {
			if e, err := expr.ParseDepth(f.Name, a.cfg.MaxDepth); err == nil && a.lowerBound(e, time.Unix(f.StartTime, 0), time.Unix(f.StopTime, 0), now) <= a.cfg.MaxRequestPoints {
				patterns = a.lib.Paths(e, patterns)
			}
		}
	}
	pre := a.prefetch(ctx, patterns, time.Unix(fetches[0].StartTime, 0), time.Unix(fetches[0].StopTime, 0), now)
	for _, f := range fetches {
		target := clipQuote(f.Name)
		from, until := time.Unix(f.StartTime, 0), time.Unix(f.StopTime, 0)
		e, err := expr.ParseDepth(f.Name, a.cfg.MaxDepth)
		if err != nil {
			if !a.limitError(w, r, "target "+target, err, false) {
				badRequest(w, "target %s: %v", target, err)
			}
			return true
		}
		if bound := a.lowerBound(e, from, until, now); bound > a.cfg.MaxRequestPoints {
			a.limitError(w, r, "target "+target, &budget.ExceededError{Limit: a.cfg.MaxRequestPoints, Want: bound}, false)
			return true
		}
		env := fn.Env{From: from, Until: until, Now: now, Location: a.cfg.Location, TagPaths: a.tagPaths, Events: a.eventTimes, Fetch: a.fetcher(pre, now, 0, &fetched)}
		list, err := a.lib.Eval(ctx, &env, e)
		var re readError
		var ms errMaxSeries
		switch {
		case err == nil:
		case a.limitError(w, r, "target "+target, err, false):
			return true
		case errors.As(err, &ms):
			a.limits.maxSeries.Inc()
			badRequest(w, "target %s: %v", target, err)
			return true
		case errors.As(err, &re) || ctx.Err() != nil:
			textError(w, http.StatusInternalServerError, "target %s: %v", target, err)
			return true
		default:
			badRequest(w, "target %s: %v", target, err)
			return true
		}
		if err := chargeWeighted(ctx, list, 2); err != nil {
			if !a.limitError(w, r, "the answer", err, false) {
				textError(w, http.StatusInternalServerError, "%v", err)
			}
			return true
		}
		pathExpr := f.PathExpression
		if pathExpr == "" {
			pathExpr = f.Name
		}
		for _, s := range list {
			if total += len(s.Values); a.cfg.MaxPoints > 0 && total > a.cfg.MaxPoints {
				a.limits.maxPoints.Inc()
				badRequest(w, "the response would hold more than %d datapoints (max_points): narrow the time range", a.cfg.MaxPoints)
				return true
			}
			out.Metrics = append(out.Metrics, fetchResponseV3(s, pathExpr, f.StartTime, f.StopTime))
		}
	}
	writeProto(w, contentTypeV3, out.Marshal)
	return true
}

// capabilities answers carbonapi's capability probe (its "auto" backend
// protocol): the protocols query-api serves, best first.
func (a *API) capabilities(w http.ResponseWriter, r *http.Request) {
	if _, err := readProtoBody(w, r); err != nil { // an empty CapabilityRequest
		badRequest(w, "%v", err)
		return
	}
	resp := pb3.CapabilityResponse{SupportedProtocols: []string{formatV3, formatV2, "msgpack"}, Name: "query-api", LikeSplittedRequests: true}
	writeProto(w, contentTypeV3, resp.Marshal)
}

// fetcher returns the evaluator's fetch for a render at now: each pattern's
// series (pre's if read ahead) read with xFilesFactor xff, *fetched counting them against
// max_series.
func (a *API) fetcher(pre *prefetched, now time.Time, xff float64, fetched *int) func(ctx context.Context, pattern string, from, until time.Time) ([]*series.Series, error) {
	return func(ctx context.Context, pattern string, from, until time.Time) ([]*series.Series, error) {
		list, err := a.read(ctx, pre, pattern, from, until, now)
		for _, s := range list {
			s.XFilesFactor = xff
		}
		if *fetched += len(list); err == nil && a.cfg.MaxSeries > 0 && *fetched > a.cfg.MaxSeries {
			return nil, errMaxSeries{a.cfg.MaxSeries}
		}
		return list, err
	}
}

// fetchResponseV3 is a series as carbonapi_v3_pb carries it: nulls as NaN.
func fetchResponseV3(s *series.Series, pathExpr string, reqStart, reqStop int64) pb3.FetchResponse {
	cf := s.Consolidate
	if cf == "" {
		cf = "average"
	}
	return pb3.FetchResponse{Name: s.Name, PathExpression: pathExpr, ConsolidationFunc: cf,
		StartTime: s.Start, StopTime: s.Start + s.Step*int64(len(s.Values)), StepTime: s.Step,
		XFilesFactor: float32(s.XFilesFactor), Values: s.Values, RequestStartTime: reqStart, RequestStopTime: reqStop}
}

// writeRenderProto answers a render's series (read from target= in the
// URL) in a carbonapi format.
func writeRenderProto(w http.ResponseWriter, format string, all []*series.Series, from, until time.Time) {
	if format == formatV3 {
		out := pb3.MultiFetchResponse{Metrics: make([]pb3.FetchResponse, 0, len(all))}
		for _, s := range all {
			out.Metrics = append(out.Metrics, fetchResponseV3(s, s.PathExpr, from.Unix(), until.Unix()))
		}
		writeProto(w, contentTypeV3, out.Marshal)
		return
	}
	out := pb2.MultiFetchResponse{Metrics: make([]pb2.FetchResponse, 0, len(all))}
	for _, s := range all {
		f := pb2.FetchResponse{Name: s.Name, StartTime: int32(s.Start), StopTime: int32(s.Start + s.Step*int64(len(s.Values))),
			StepTime: int32(s.Step), Values: make([]float64, len(s.Values)), IsAbsent: make([]bool, len(s.Values))}
		for i, v := range s.Values {
			if math.IsNaN(v) {
				f.IsAbsent[i] = true
			} else {
				f.Values[i] = v
			}
		}
		out.Metrics = append(out.Metrics, f)
	}
	writeProto(w, contentTypeV2, out.Marshal)
}

func writeProto(w http.ResponseWriter, contentType string, marshal func() ([]byte, error)) {
	b, err := marshal()
	if err != nil {
		textError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Write(b)
}
