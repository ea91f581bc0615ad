package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dashboardTarget is one query of one panel of a provisioned dashboard.
type dashboardTarget struct {
	file, panel, target, from string
	uid                       string // the panel's (or the query's) datasource uid
}

type dashboardPanel struct {
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID      string `json:"refId"`
		Target     string `json:"target"`
		TargetFull string `json:"targetFull"`
		Hide       bool   `json:"hide"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a row's panels
}

// dashboardTargets reads every target of every dashboard Grafana is
// provisioned with (deploy/grafana/dashboards).
func dashboardTargets(t *testing.T) []dashboardTarget {
	t.Helper()
	files, err := filepath.Glob("../grafana/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no provisioned dashboards: %v", err)
	}
	var out []dashboardTarget
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Time struct {
				From string `json:"from"`
			} `json:"time"`
			Templating struct {
				List []json.RawMessage `json:"list"`
			} `json:"templating"`
			Panels []dashboardPanel `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(d.Templating.List) > 0 {
			t.Fatalf("%s has template variables: teach this test to substitute them", f)
		}
		var walk func(ps []dashboardPanel)
		walk = func(ps []dashboardPanel) {
			for _, p := range ps {
				walk(p.Panels)
				for _, q := range p.Targets {
					if q.Hide {
						continue
					}
					tgt := q.Target
					if q.TargetFull != "" {
						tgt = q.TargetFull
					}
					dt := dashboardTarget{file: filepath.Base(f), panel: p.Title, target: tgt, from: d.Time.From}
					if p.Datasource != nil {
						dt.uid = p.Datasource.UID
					}
					if q.Datasource != nil {
						dt.uid = q.Datasource.UID
					}
					out = append(out, dt)
				}
			}
		}
		walk(d.Panels)
	}
	return out
}

// provisionedDatasources lists the uids of deploy/grafana's datasources.
func provisionedDatasources(t *testing.T) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob("../grafana/provisioning/datasources/*.yaml")
	uids := map[string]bool{}
	re := regexp.MustCompile(`(?m)^\s*uid:\s*"?([^"\s]+)"?\s*$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			uids[m[1]] = true
		}
	}
	return uids
}

// checkDashboards renders every target of every provisioned dashboard
// against the running stack, over the dashboard's own time range, and wants
// non-null data from each: the dashboards show what `make run` and
// statblast produce.
func checkDashboards(t *testing.T, base string) {
	t.Helper()
	uids := provisionedDatasources(t)
	targets := dashboardTargets(t)
	for _, dt := range targets {
		if !uids[dt.uid] {
			t.Errorf("%s %q: datasource uid %q is not provisioned (%v)", dt.file, dt.panel, dt.uid, uids)
		}
		if strings.Contains(dt.target, "#") {
			t.Errorf("%s %q: %s refers to another query; give targetFull", dt.file, dt.panel, dt.target)
			continue
		}
		series := render(t, base, dt.target, dt.from)
		values := 0
		for _, vs := range series {
			values += len(vs)
		}
		if values == 0 {
			t.Errorf("%s panel %q: %s over %s renders no non-null value", dt.file, dt.panel, dt.target, dt.from)
		}
	}
	t.Logf("%d dashboard targets checked", len(targets))
}
