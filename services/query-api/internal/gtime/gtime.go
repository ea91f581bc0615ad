// Package gtime parses the times graphite-web's render API accepts in from
// and until, with graphite-web 1.1's rules (its attime module): epoch
// seconds, HH:MM_YYYYMMDD, YYYYMMDD, MM/DD/YY[YY], month and weekday names,
// now, today, yesterday, tomorrow, midnight, noon, teatime, Xam/Xpm, and
// offsets such as -1h, -5min, +2d, -1mon (30 days), -1y (365 days). A unit
// must start with s, min, h, d, w, mon or y: a bare "m" is invalid, as in
// graphite.
package gtime

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

var (
	months   = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
)

// Parse reads s relative to now in loc.
func Parse(s string, now time.Time, loc *time.Location) (time.Time, error) {
	orig := s
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("_", "", ",", "", " ", "").Replace(s)
	now = now.In(loc)
	if isDigits(s) && s != "" {
		if !(len(s) == 8 && atoi(s[:4]) > 1900 && atoi(s[4:6]) < 13 && atoi(s[6:]) < 32) {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("invalid time %q", orig)
			}
			return time.Unix(n, 0).In(loc), nil
		}
	} else if strings.Contains(s, ":") && len(s) == 13 {
		t, err := time.ParseInLocation("15:0420060102", s, loc)
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid time %q: %v", orig, err)
		}
		return t, nil
	}
	ref, offset := s, ""
	if i := strings.IndexByte(s, '+'); i >= 0 {
		ref, offset = s[:i], s[i:]
	} else if i := strings.IndexByte(s, '-'); i >= 0 {
		ref, offset = s[:i], s[i:]
	}
	t, err := reference(ref, now, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time %q: %w", orig, err)
	}
	d, err := Offset(offset)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time %q: %w", orig, err)
	}
	return t.Add(d), nil
}

func reference(ref string, now time.Time, loc *time.Location) (time.Time, error) {
	if ref == "" || ref == "now" {
		return now, nil
	}
	hour, minute := 0, 0
	if i := strings.IndexByte(ref, ':'); i > 0 && i < 3 {
		hour = atoi(ref[:i])
		if len(ref) < i+3 {
			return time.Time{}, fmt.Errorf("bad time of day %q", ref)
		}
		minute = atoi(ref[i+1 : i+3])
		ref = ref[i+3:]
		if strings.HasPrefix(ref, "am") {
			ref = ref[2:]
		} else if strings.HasPrefix(ref, "pm") {
			hour = (hour + 12) % 24
			ref = ref[2:]
		}
	}
	if i := strings.Index(ref, "am"); i > 0 && i < 3 {
		hour = atoi(ref[:i])
		ref = ref[i+2:]
	}
	if i := strings.Index(ref, "pm"); i > 0 && i < 3 {
		hour = (atoi(ref[:i]) + 12) % 24
		ref = ref[i+2:]
	}
	switch {
	case strings.HasPrefix(ref, "noon"):
		hour, minute, ref = 12, 0, ref[4:]
	case strings.HasPrefix(ref, "midnight"):
		hour, minute, ref = 0, 0, ref[8:]
	case strings.HasPrefix(ref, "teatime"):
		hour, minute, ref = 16, 0, ref[7:]
	}
	y, mo, d := now.Date()
	t := time.Date(y, mo, d, hour, minute, 0, 0, loc)
	switch {
	case ref == "yesterday":
		t = t.AddDate(0, 0, -1)
	case ref == "today" || ref == "":
	case ref == "tomorrow":
		t = t.AddDate(0, 0, 1)
	case strings.Count(ref, "/") == 2:
		parts := strings.Split(ref, "/")
		m, dd, yy := atoi(parts[0]), atoi(parts[1]), atoi(parts[2])
		if yy < 1900 {
			yy += 1900
		}
		if yy < 1970 {
			yy += 100
		}
		t = time.Date(yy, time.Month(m), dd, hour, minute, 0, 0, loc)
	case len(ref) == 8 && isDigits(ref):
		t = time.Date(atoi(ref[:4]), time.Month(atoi(ref[4:6])), atoi(ref[6:8]), hour, minute, 0, 0, loc)
	case len(ref) >= 3 && indexOf(months, ref[:3]) >= 0:
		var dd int
		switch {
		case len(ref) >= 2 && isDigits(ref[len(ref)-2:]):
			dd = atoi(ref[len(ref)-2:])
		case isDigits(ref[len(ref)-1:]):
			dd = atoi(ref[len(ref)-1:])
		default:
			return time.Time{}, fmt.Errorf("day of month required after month name")
		}
		t = time.Date(y, time.Month(indexOf(months, ref[:3])+1), dd, hour, minute, 0, 0, loc)
	case len(ref) >= 3 && indexOf(weekdays, ref[:3]) >= 0:
		back := (int(t.Weekday()) - indexOf(weekdays, ref[:3]) + 7) % 7
		t = t.AddDate(0, 0, -back)
	default:
		return time.Time{}, fmt.Errorf("unknown day reference %q", ref)
	}
	return t, nil
}

// Offset reads an offset such as "-1h", "+2d5min" or "3w" (graphite's
// parseTimeOffset).
func Offset(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	sign := time.Duration(1)
	switch s[0] {
	case '+':
		s = s[1:]
	case '-':
		sign, s = -1, s[1:]
	default:
		if s[0] < '0' || s[0] > '9' {
			return 0, fmt.Errorf("offset %q must start with a sign or a digit", s)
		}
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("offset needs a number before %q", s)
		}
		num, _ := strconv.Atoi(s[:i])
		s = s[i:]
		j := 0
		for j < len(s) && s[j] >= 'a' && s[j] <= 'z' {
			j++
		}
		unit := s[:j]
		s = s[j:]
		var d time.Duration
		switch {
		case strings.HasPrefix(unit, "s"):
			d = time.Second
		case strings.HasPrefix(unit, "min"):
			d = time.Minute
		case strings.HasPrefix(unit, "h"):
			d = time.Hour
		case strings.HasPrefix(unit, "d"):
			d = 24 * time.Hour
		case strings.HasPrefix(unit, "w"):
			d = 7 * 24 * time.Hour
		case strings.HasPrefix(unit, "mon"):
			d = 30 * 24 * time.Hour
		case strings.HasPrefix(unit, "y"):
			d = 365 * 24 * time.Hour
		default:
			return 0, fmt.Errorf("invalid offset unit %q", unit)
		}
		total += time.Duration(num) * d
	}
	return sign * total, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
