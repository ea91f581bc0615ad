package bus

import (
	"errors"
	"strconv"
	"strings"
)

// BatchHeader carries the id of a batch of lines a relay sends as a NATS
// request (acknowledged delivery, docs/wire.md): "<sender> <seq>". A sender
// is one lane of one relay destination; it sends batch seq+1 only once seq
// is acknowledged, retrying seq with the same id until then. The receiver
// keeps the highest seq it took from each sender and takes a batch only if
// its seq is higher: a retry whose first copy arrived is acknowledged again
// but not counted twice.
const BatchHeader = "Consthash-Batch"

// ErrBatchID is returned for a BatchHeader value that is not "<sender> <seq>".
var ErrBatchID = errors.New("not a batch id")

// BatchID returns the BatchHeader value of a sender's batch seq.
func BatchID(sender string, seq uint64) string {
	return sender + " " + strconv.FormatUint(seq, 10)
}

// ParseBatchID reads a BatchHeader value. The sender is non-empty and holds
// no space; seq is a decimal number above 0.
func ParseBatchID(v string) (sender string, seq uint64, err error) {
	i := strings.LastIndexByte(v, ' ')
	if i <= 0 || strings.IndexByte(v[:i], ' ') >= 0 {
		return "", 0, ErrBatchID
	}
	seq, err = strconv.ParseUint(v[i+1:], 10, 64)
	if err != nil || seq == 0 {
		return "", 0, ErrBatchID
	}
	return v[:i], seq, nil
}
