package bus

import (
	"errors"
	"reflect"
	"testing"
)

func TestRecentRequest(t *testing.T) {
	if RecentSubject(7) != "consthash.recent.7" {
		t.Errorf("RecentSubject(7) = %q", RecentSubject(7))
	}
	req := RecentRequest{Paths: []string{"a.b", "c;t=1"}, Step: 10, From: 100, Until: 200}
	var got RecentRequest
	if err := got.Decode(req.Encode()); err != nil || !reflect.DeepEqual(got, req) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{
		`{"paths":[],"step":10,"from":1,"until":2}`,
		`{"paths":["a"],"step":0,"from":1,"until":2}`,
		`{"paths":["a"],"step":10,"from":2,"until":2}`,
		`{"paths":"a"}`,
		`nope`,
	} {
		if err := got.Decode([]byte(bad)); !errors.Is(err, ErrRecent) {
			t.Errorf("Decode(%s) = %v, want ErrRecent", bad, err)
		}
	}
}

func TestRecentReply(t *testing.T) {
	rep := RecentReply{Points: []RecentPoint{{Path: "a", Source: "s", Time: 10, Sum: 1.5, Min: -1, Max: 2, Last: 2, LastAt: 11e9, Count: 3}}, Truncated: true}
	b, err := rep.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var got RecentReply
	if err := got.Decode(b); err != nil || !reflect.DeepEqual(got, rep) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if err := got.Decode([]byte(`{"points":{}}`)); !errors.Is(err, ErrRecent) {
		t.Errorf("a bad reply decoded: %v", err)
	}
}

func FuzzRecentRequestDecode(f *testing.F) {
	for _, s := range []string{`{"paths":["a.b"],"step":10,"from":1,"until":20}`, `{"paths":[]}`, `{}`, `[]`, `{"step":-1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r RecentRequest
		if r.Decode(b) != nil {
			return
		}
		var again RecentRequest
		if err := again.Decode(r.Encode()); err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("%+v re-encoded decodes to %+v, %v", r, again, err)
		}
	})
}

func FuzzRecentReplyDecode(f *testing.F) {
	for _, s := range []string{`{"points":[{"path":"a","source":"s","time":10,"sum":1,"count":1}]}`, `{"points":null,"truncated":true}`, `{}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r RecentReply
		if r.Decode(b) != nil {
			return
		}
		enc, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		var again RecentReply
		if err := again.Decode(enc); err != nil || len(again.Points) != len(r.Points) || again.Truncated != r.Truncated {
			t.Fatalf("%+v re-encoded decodes to %+v, %v", r, again, err)
		}
	})
}
