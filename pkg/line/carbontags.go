package line

import (
	"regexp"
	"sort"
	"strings"
)

// openMetricsTag matches one `tag="value"` segment as carbon 1.1 parses it
// (including its `(:?,|$)` separator, which also accepts ":,").
var openMetricsTag = regexp.MustCompile(`^([^=]+)="((?:\\["\\]|[^"\\])+)"(:?,|$)`)

// NormalizeCarbonTags returns a metric name as graphite-carbon 1.1 normalizes
// it with TAG_RELAY_NORMALIZED (TaggedSeries.parse(metric).path): carbon form
// `name;tag=value;...` or OpenMetrics form `name{tag="value",...}`, leading
// '~' removed from the name, a repeated tag's last value kept, a tag called
// `name` dropped, and the `;tag=value` strings sorted. ok is false where
// carbon's parser raises; carbon then routes the raw name.
func NormalizeCarbonTags(metric string) (string, bool) {
	tags := map[string]string{}
	var name string
	if strings.HasSuffix(metric, `"}`) && strings.Contains(metric, "{") {
		body := metric[:len(metric)-1]
		if strings.Count(body, "{") != 1 {
			return metric, false
		}
		var raw string
		name, raw, _ = strings.Cut(body, "{")
		if name == "" {
			return metric, false
		}
		for len(raw) > 0 {
			m := openMetricsTag.FindStringSubmatch(raw)
			if m == nil {
				return metric, false
			}
			v := strings.ReplaceAll(strings.ReplaceAll(m[2], `\"`, `"`), `\\`, `\`)
			if !validCarbonTag(m[1], v) {
				return metric, false
			}
			tags[m[1]] = v
			raw = raw[len(m[0]):]
		}
	} else {
		segs := strings.Split(metric, ";")
		name = segs[0]
		if name == "" {
			return metric, false
		}
		for _, seg := range segs[1:] {
			k, v, found := strings.Cut(seg, "=")
			if !found || k == "" || !validCarbonTag(k, v) {
				return metric, false
			}
			tags[k] = v
		}
	}
	name = strings.TrimLeft(name, "~")
	if name == "" {
		return metric, false
	}
	parts := make([]string, 0, len(tags))
	for k, v := range tags {
		if k != "name" {
			parts = append(parts, ";"+k+"="+v)
		}
	}
	sort.Strings(parts)
	return name + strings.Join(parts, ""), true
}

func validCarbonTag(tag, value string) bool {
	return tag != "" && value != "" && !strings.ContainsAny(tag, ";!^=") &&
		!strings.Contains(value, ";") && value[0] != '~'
}
