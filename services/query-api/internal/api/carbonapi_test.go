package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	pb2 "github.com/go-graphite/protocol/carbonapi_v2_pb"
	pb3 "github.com/go-graphite/protocol/carbonapi_v3_pb"
)

// getBody sends a GET with a body, as carbonapi's zipper sends its
// carbonapi_v3_pb requests.
func getBody(t *testing.T, srv *httptest.Server, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", contentTypeV3)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestCarbonapiV3Find asks /metrics/find as carbonapi's carbonapi_v3_pb
// backend protocol does (a MultiGlobRequest body) and as its v2 one does.
func TestCarbonapiV3Find(t *testing.T) {
	srv := testAPI(t)
	body, _ := (&pb3.MultiGlobRequest{Metrics: []string{"stats_counts.*", "servers.**", "nope.*"}, StartTime: now - 3600, StopTime: now}).Marshal()
	code, b := getBody(t, srv, "/metrics/find/?format=carbonapi_v3_pb", body)
	if code != 200 {
		t.Fatalf("find: %d %s", code, b)
	}
	var got pb3.MultiGlobResponse
	if err := got.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	want := []string{"stats_counts.*: stats_counts.app", "servers.**: servers.web01 servers.web01.cpu;dc=eu*", "nope.*: "}
	if s := globStrings(got.Metrics); !slices.Equal(s, want) {
		t.Errorf("v3 find = %q, want %q", s, want)
	}
	// Without a body, query= as the other formats.
	code, b = getBody(t, srv, "/metrics/find/?format=carbonapi_v3_pb&query=stats_counts.app.*", nil)
	got = pb3.MultiGlobResponse{}
	if err := got.Unmarshal(b); code != 200 || err != nil {
		t.Fatalf("find by query: %d %v %s", code, err, b)
	}
	if s := globStrings(got.Metrics); !slices.Equal(s, []string{"stats_counts.app.*: stats_counts.app.req*"}) {
		t.Errorf("v3 find by query = %q", s)
	}
	for _, format := range []string{"carbonapi_v2_pb", "protobuf"} {
		code, b = getBody(t, srv, "/metrics/find/?format="+format+"&query=stats_counts.app.*", nil)
		var g pb2.GlobResponse
		if err := g.Unmarshal(b); code != 200 || err != nil {
			t.Fatalf("%s find: %d %v %s", format, code, err, b)
		}
		if g.Name != "stats_counts.app.*" || len(g.Matches) != 1 || g.Matches[0] != (pb2.GlobMatch{Path: "stats_counts.app.req", IsLeaf: true}) {
			t.Errorf("%s find = %+v", format, g)
		}
	}
}

func globStrings(list []pb3.GlobResponse) []string {
	var out []string
	for _, g := range list {
		var ms []string
		for _, m := range g.Matches {
			s := m.Path
			if m.IsLeaf {
				s += "*"
			}
			ms = append(ms, s)
		}
		out = append(out, g.Name+": "+strings.Join(ms, " "))
	}
	return out
}

// TestCarbonapiV3Render fetches as carbonapi does, each fetch with its own
// range, and checks the values against format=json's answer.
func TestCarbonapiV3Render(t *testing.T) {
	srv := testAPI(t)
	req := pb3.MultiFetchRequest{Metrics: []pb3.FetchRequest{
		{Name: "stats_counts.app.*", PathExpression: "stats_counts.app.*", StartTime: now - 3600, StopTime: now},
		{Name: "servers.*.*", StartTime: now - 1800, StopTime: now - 600},
	}}
	body, _ := req.Marshal()
	code, b := getBody(t, srv, "/render/?format=carbonapi_v3_pb", body)
	if code != 200 {
		t.Fatalf("render: %d %s", code, b)
	}
	var got pb3.MultiFetchResponse
	if err := got.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if len(got.Metrics) != 2 {
		t.Fatalf("render: %d series, want 2: %+v", len(got.Metrics), got)
	}
	for i, f := range req.Metrics {
		m := got.Metrics[i]
		want := jsonSeries(t, srv, f.Name, f.StartTime, f.StopTime)
		if m.PathExpression != f.Name || m.Name != want.name || m.StepTime != 60 || m.ConsolidationFunc != "average" ||
			m.RequestStartTime != f.StartTime || m.RequestStopTime != f.StopTime || m.StopTime != m.StartTime+60*int64(len(m.Values)) {
			t.Errorf("fetch %d: %+v", i, m)
		}
		if fmt.Sprint(nanToNil(m.Values)) != fmt.Sprint(want.values) || m.StartTime != want.start {
			t.Errorf("fetch %d: values from %d %v, json from %d %v", i, m.StartTime, nanToNil(m.Values), want.start, want.values)
		}
	}
	// target= in the URL, for v3 without a body and for v2.
	form := url.Values{"target": {"stats_counts.app.req"}, "from": {fmt.Sprint(now - 3600)}, "until": {fmt.Sprint(now)}}
	want := jsonSeries(t, srv, "stats_counts.app.req", now-3600, now)
	for _, format := range []string{"carbonapi_v3_pb", "carbonapi_v2_pb"} {
		form.Set("format", format)
		code, b := getBody(t, srv, "/render/?"+form.Encode(), nil)
		if code != 200 {
			t.Fatalf("%s render: %d %s", format, code, b)
		}
		var name string
		var start int64
		var values []any
		if format == formatV3 {
			var r pb3.MultiFetchResponse
			if err := r.Unmarshal(b); err != nil || len(r.Metrics) != 1 {
				t.Fatalf("%s: %v %+v", format, err, r)
			}
			name, start, values = r.Metrics[0].Name, r.Metrics[0].StartTime, nanToNil(r.Metrics[0].Values)
		} else {
			var r pb2.MultiFetchResponse
			if err := r.Unmarshal(b); err != nil || len(r.Metrics) != 1 {
				t.Fatalf("%s: %v %+v", format, err, r)
			}
			m := r.Metrics[0]
			name, start = m.Name, int64(m.StartTime)
			for i, v := range m.Values {
				if m.IsAbsent[i] {
					values = append(values, nil)
				} else {
					values = append(values, v)
				}
			}
		}
		if name != want.name || start != want.start || fmt.Sprint(values) != fmt.Sprint(want.values) {
			t.Errorf("%s: %s from %d %v, json %s from %d %v", format, name, start, values, want.name, want.start, want.values)
		}
	}
}

// TestCarbonapiV3Refusals: bad bodies and ranges are 400s that say why.
func TestCarbonapiV3Refusals(t *testing.T) {
	srv := testAPI(t)
	reversed, _ := (&pb3.MultiFetchRequest{Metrics: []pb3.FetchRequest{{Name: "a", StartTime: 10, StopTime: 10}}}).Marshal()
	empty, _ := (&pb3.MultiGlobRequest{Metrics: []string{""}}).Marshal()
	for _, tt := range []struct {
		path string
		body []byte
		want string
	}{
		{"/render/?format=carbonapi_v3_pb", []byte{0xff, 0xff}, "cannot read the carbonapi_v3_pb request"},
		{"/render/?format=carbonapi_v3_pb", reversed, "startTime 10 is not before stopTime 10"},
		{"/metrics/find/?format=carbonapi_v3_pb", empty, "an empty metric to find"},
		{"/metrics/find/?format=carbonapi_v3_pb", bytes.Repeat([]byte{0x0a, 0x01, 'a'}, maxProtoBody/3+1), "at most 1048576 bytes"},
	} {
		code, b := getBody(t, srv, tt.path, tt.body)
		if code != 400 || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s: %d %s, want 400 %q", tt.path, code, b, tt.want)
		}
	}
}

type jsonAnswer struct {
	name   string
	start  int64
	values []any
}

// jsonSeries renders target as JSON, for the one series it selects.
func jsonSeries(t *testing.T, srv *httptest.Server, target string, from, until int64) jsonAnswer {
	t.Helper()
	var v []struct {
		Target     string
		Datapoints [][2]any
	}
	code, body := post(t, srv, "/render", url.Values{"target": {target}, "from": {fmt.Sprint(from)}, "until": {fmt.Sprint(until)}, "format": {"json"}})
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || len(v) != 1 {
		t.Fatalf("json render %s: %d %v %s", target, code, err, body)
	}
	a := jsonAnswer{name: v[0].Target, start: int64(v[0].Datapoints[0][1].(float64))}
	for _, p := range v[0].Datapoints {
		a.values = append(a.values, p[0])
	}
	return a
}

func nanToNil(vs []float64) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		if !math.IsNaN(v) {
			out[i] = v
		}
	}
	return out
}

// FuzzCarbonapiV3Requests feeds the carbonapi_v3_pb request decoders
// anything: they never panic, and what they accept holds what they check.
func FuzzCarbonapiV3Requests(f *testing.F) {
	glob, _ := (&pb3.MultiGlobRequest{Metrics: []string{"a.*", "b.**"}, StartTime: 1, StopTime: 2}).Marshal()
	fetch, _ := (&pb3.MultiFetchRequest{Metrics: []pb3.FetchRequest{{Name: "a.b", PathExpression: "a.*", StartTime: 1, StopTime: 61, MaxDataPoints: 10,
		FilterFunctions: []*pb3.FilteringFunction{{Name: "f", Arguments: []string{"x"}}}}}}).Marshal()
	for _, seed := range [][]byte{glob, fetch, nil, {0x0a}, {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, {0x12, 0x00}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if names, err := decodeGlobRequest(b); err == nil {
			if len(names) == 0 || len(names) > maxProtoRequests || slices.Contains(names, "") {
				t.Errorf("glob request accepted: %q", names)
			}
		}
		if fetches, err := decodeFetchRequest(b); err == nil {
			if len(fetches) == 0 || len(fetches) > maxProtoRequests {
				t.Errorf("fetch request accepted with %d fetches", len(fetches))
			}
			for _, f := range fetches {
				if f.Name == "" || f.StartTime >= f.StopTime {
					t.Errorf("fetch accepted: %+v", f)
				}
			}
		}
	})
}

// TestCarbonapiCapabilities answers carbonapi's "auto" probe.
func TestCarbonapiCapabilities(t *testing.T) {
	srv := testAPI(t)
	code, b := getBody(t, srv, "/_internal/capabilities/", nil)
	var c pb3.CapabilityResponse
	if err := c.Unmarshal(b); code != 200 || err != nil || len(c.SupportedProtocols) == 0 || c.SupportedProtocols[0] != formatV3 {
		t.Errorf("capabilities: %d %v %+v", code, err, c)
	}
}
