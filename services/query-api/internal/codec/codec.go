// Package codec writes the Python pickle (protocol 2) and MessagePack
// encodings that graphite-web's format=pickle and format=msgpack answer
// with, for the values JSON would carry: nil, bool, integers, float64,
// string, []any, []float64 (NaN as None/nil), map[string]any and
// []map[string]any. Map keys are written sorted, so output is stable.
package codec

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Pickle appends v pickled with protocol 2, as Python's pickle.loads reads it.
func Pickle(b []byte, v any) ([]byte, error) {
	b = append(b, 0x80, 2) // PROTO 2
	b, err := pickleValue(b, v)
	if err != nil {
		return nil, err
	}
	return append(b, '.'), nil // STOP
}

func pickleValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, 'N'), nil
	case bool:
		if x {
			return append(b, 0x88), nil // NEWTRUE
		}
		return append(b, 0x89), nil // NEWFALSE
	case int:
		return pickleInt(b, int64(x)), nil
	case int64:
		return pickleInt(b, x), nil
	case float64:
		return pickleFloat(b, x), nil
	case string:
		b = append(b, 'X') // BINUNICODE
		b = binary.LittleEndian.AppendUint32(b, uint32(len(x)))
		return append(b, x...), nil
	case []float64: // each value appended as is, not boxed as an any
		b = append(b, ']', '(')
		for _, f := range x {
			b = pickleFloat(b, f)
		}
		return append(b, 'e'), nil
	case []any:
		return pickleList(b, x)
	case []map[string]any:
		return pickleList(b, x)
	case map[string]any:
		b = append(b, '}', '(') // EMPTY_DICT, MARK
		for _, k := range slices.Sorted(maps.Keys(x)) {
			b, _ = pickleValue(b, k)
			var err error
			if b, err = pickleValue(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, 'u'), nil // SETITEMS
	}
	return nil, fmt.Errorf("codec: cannot pickle a %T", v)
}

// pickleList pickles a list: EMPTY_LIST, MARK, the items, APPENDS.
func pickleList[T any](b []byte, list []T) ([]byte, error) {
	b = append(b, ']', '(')
	for _, e := range list {
		var err error
		if b, err = pickleValue(b, e); err != nil {
			return nil, err
		}
	}
	return append(b, 'e'), nil
}

// pickleFloat appends a float: None for NaN, else BINFLOAT (big-endian).
func pickleFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) {
		return append(b, 'N')
	}
	return binary.BigEndian.AppendUint64(append(b, 'G'), math.Float64bits(f))
}

func pickleInt(b []byte, n int64) []byte {
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		b = append(b, 'J') // BININT
		return binary.LittleEndian.AppendUint32(b, uint32(int32(n)))
	}
	b = append(b, 0x8a, 8) // LONG1, 8 bytes two's complement little-endian
	return binary.LittleEndian.AppendUint64(b, uint64(n))
}

// Msgpack appends v in MessagePack, as Python's msgpack.loads reads it.
func Msgpack(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, 0xc0), nil
	case bool:
		if x {
			return append(b, 0xc3), nil
		}
		return append(b, 0xc2), nil
	case int:
		return msgpackInt(b, int64(x)), nil
	case int64:
		return msgpackInt(b, x), nil
	case float64:
		return msgpackFloat(b, x), nil
	case string:
		switch n := len(x); {
		case n < 32:
			b = append(b, 0xa0|byte(n))
		case n < 1<<8:
			b = append(b, 0xd9, byte(n))
		case n < 1<<16:
			b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
		default:
			b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
		}
		return append(b, x...), nil
	case []float64: // each value appended as is, not boxed as an any
		b = msgpackLen(b, len(x), 0x90, 0xdc)
		for _, f := range x {
			b = msgpackFloat(b, f)
		}
		return b, nil
	case []any:
		return msgpackList(b, x)
	case []map[string]any:
		return msgpackList(b, x)
	case map[string]any:
		b = msgpackLen(b, len(x), 0x80, 0xde)
		for _, k := range slices.Sorted(maps.Keys(x)) {
			b, _ = Msgpack(b, k)
			var err error
			if b, err = Msgpack(b, x[k]); err != nil {
				return nil, err
			}
		}
		return b, nil
	}
	return nil, fmt.Errorf("codec: cannot encode a %T in msgpack", v)
}

func msgpackList[T any](b []byte, list []T) ([]byte, error) {
	b = msgpackLen(b, len(list), 0x90, 0xdc)
	for _, e := range list {
		var err error
		if b, err = Msgpack(b, e); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// msgpackLen writes an array or map header: fix form up to 15, else 16 or
// 32 bits (code16, code16+1).
func msgpackLen(b []byte, n int, fix, code16 byte) []byte {
	switch {
	case n < 16:
		return append(b, fix|byte(n))
	case n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, code16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, code16+1), uint32(n))
}

// msgpackFloat appends a float: nil for NaN, else float 64.
func msgpackFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) {
		return append(b, 0xc0)
	}
	return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f))
}

func msgpackInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n < 128:
		return append(b, byte(n))
	case n < 0 && n >= -32:
		return append(b, byte(int8(n)))
	case n >= math.MinInt32 && n <= math.MaxInt32:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(n)))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}
