package line

// Reason classifies why a line was rejected, for counters such as
// `lines_bad_total{reason="value"}`. Every parse error of this package carries
// one.
type Reason uint8

// The reasons a line is rejected.
const (
	ReasonNone       Reason = iota
	ReasonEmpty             // nothing but whitespace
	ReasonTooLong           // longer than the configured maximum
	ReasonFields            // wrong number of fields
	ReasonKey               // empty or otherwise unusable key
	ReasonTags              // malformed graphite tags or DogStatsD tags
	ReasonValue             // value is not a number
	ReasonNonFinite         // value is NaN or ±Inf
	ReasonTimestamp         // timestamp is not a non-negative number
	ReasonType              // statsd type missing
	ReasonSampleRate        // statsd sample rate malformed
	ReasonNoMatch           // a regex line format did not match, or matched no key
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:       "none",
	ReasonEmpty:      "empty",
	ReasonTooLong:    "too_long",
	ReasonFields:     "fields",
	ReasonKey:        "key",
	ReasonTags:       "tags",
	ReasonValue:      "value",
	ReasonNonFinite:  "non_finite",
	ReasonTimestamp:  "timestamp",
	ReasonType:       "type",
	ReasonSampleRate: "sample_rate",
	ReasonNoMatch:    "no_match",
}

// String returns the reason's short name, as used in metric labels.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every reason, in order, for pre-registering counters.
func Reasons() []Reason {
	rs := make([]Reason, 0, numReasons-1)
	for r := ReasonEmpty; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// Error is the error every parser of this package returns for a bad line. It
// does not hold the line, so that returning it allocates nothing; callers that
// log it add the line themselves (rate-limited).
type Error struct {
	Format string // "graphite", "statsd", "regex"
	Reason Reason
	Msg    string
}

func (e *Error) Error() string { return e.Format + " line: " + e.Msg }

// ReasonOf returns the reason of a parse error, or ReasonNone when err is not
// one of this package's errors.
func ReasonOf(err error) Reason {
	if e, ok := err.(*Error); ok {
		return e.Reason
	}
	return ReasonNone
}
