package bus

import (
	"reflect"
	"testing"
	"time"
)

func TestMembersView(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	ms := NewMembers("me")
	ms.Observe(Heartbeat{ID: "me", Owned: []int{9}}, t0) // its own: ignored
	ms.Observe(Heartbeat{ID: "b", Owned: []int{1, 2}}, t0)
	ms.Observe(Heartbeat{ID: "c", Owned: []int{2}, Leaving: true}, t0)
	ms.Observe(Heartbeat{ID: "old", Owned: []int{3}}, t0.Add(-10*time.Second))
	for _, tc := range []struct {
		name    string
		leaving bool
		want    View
	}{
		{"staying", false, View{Live: []string{"b", "me"}, Holders: map[int][]string{1: {"b"}, 2: {"b", "c"}}, Others: 1}},
		{"leaving", true, View{Live: []string{"b"}, Holders: map[int][]string{1: {"b"}, 2: {"b", "c"}}, Others: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := ms.View(t0.Add(time.Second), 3*time.Second, tc.leaving)
			for s := range v.Holders {
				if s == 2 && v.Holders[s][0] != "b" {
					v.Holders[s][0], v.Holders[s][1] = v.Holders[s][1], v.Holders[s][0]
				}
			}
			if !reflect.DeepEqual(v, tc.want) {
				t.Errorf("view %+v, want %+v", v, tc.want)
			}
			if !v.HeldByOther(2, "b") || v.HeldByOther(1, "b") || v.HeldByOther(3, "") {
				t.Errorf("HeldByOther wrong: %+v", v.Holders)
			}
		})
	}
	if ms.Alive("old", t0.Add(time.Second), 3*time.Second) || !ms.Alive("b", t0.Add(time.Second), 3*time.Second) {
		t.Error("Alive: the forgotten member is alive or the live one is not")
	}
}

// TestOwnerSpreadsAndIsStable: every shard gets one of the live members, the
// members share the shards, and removing a member moves only its shards.
func TestOwnerSpreadsAndIsStable(t *testing.T) {
	three, two := []string{"a", "b", "c"}, []string{"a", "b"}
	per := map[string]int{}
	for s := range 256 {
		o3, o2 := Owner(three, s), Owner(two, s)
		per[o3]++
		if o3 != "c" && o2 != o3 {
			t.Errorf("shard %d moved from %s to %s when c left", s, o3, o2)
		}
	}
	for _, id := range three {
		if per[id] < 50 {
			t.Errorf("%s owns %d of 256 shards", id, per[id])
		}
	}
	if Owner(nil, 1) != "" {
		t.Error("an owner among no members")
	}
}
