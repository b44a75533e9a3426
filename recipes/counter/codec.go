package counter

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strconv"
)

// Codec turns a counter value into node data and back. It is chosen per
// path: every client of one node must use the same codec (see the package
// documentation for which peer reads which).
type Codec interface {
	// Name identifies the codec: "curator-int32", "curator-int64", "kazoo-ascii".
	Name() string
	// Encode returns the data for n, or an error matching ErrOverflow when
	// n is out of the codec's range.
	Encode(n int64) ([]byte, error)
	// Decode returns the value of data. Empty data is 0; anything else the
	// codec cannot read is a *CorruptError matching ErrCorrupt.
	Decode(data []byte) (int64, error)
}

// CuratorInt32 is 4-byte big-endian int32: what Curator's SharedCount and
// DistributedAtomicInteger, and kazoo's Counter(support_curator=True), write.
var CuratorInt32 Codec = fixedCodec{name: "curator-int32", size: 4}

// CuratorInt64 is 8-byte big-endian int64: what Curator's
// DistributedAtomicLong writes.
var CuratorInt64 Codec = fixedCodec{name: "curator-int64", size: 8}

// KazooASCII is the decimal ASCII text kazoo's default Counter writes for an
// int (repr(value)), e.g. "42" or "-7".
var KazooASCII Codec = asciiCodec{}

// Codecs are the codecs by Name, for flags and configuration.
var Codecs = map[string]Codec{
	CuratorInt32.Name(): CuratorInt32,
	CuratorInt64.Name(): CuratorInt64,
	KazooASCII.Name():   KazooASCII,
}

type fixedCodec struct {
	name string
	size int // 4 or 8
}

func (c fixedCodec) Name() string { return c.name }

func (c fixedCodec) Encode(n int64) ([]byte, error) {
	if c.size == 4 {
		if n < math.MinInt32 || n > math.MaxInt32 {
			return nil, fmt.Errorf("%w: %d does not fit %s", ErrOverflow, n, c.name)
		}
		return binary.BigEndian.AppendUint32(nil, uint32(int32(n))), nil
	}
	b := binary.BigEndian.AppendUint64(nil, uint64(n))
	if looksLikeIP(b) {
		return nil, fmt.Errorf("%w: %d is stored as the bytes %q, which %s refuses to read as a value (they are Curator's default data)", ErrOverflow, n, b, c.name)
	}
	return b, nil
}

// looksLikeIP reports whether data is the text of an IPv4 address, as
// Curator writes into nodes it creates without data ("10.0.0.1" is 8 bytes,
// the size of a long). Such bytes are all above 0x2e2e2e2e2e2e2e2e, values
// no counter reaches (beyond 3.3e18), so refusing them loses nothing.
func looksLikeIP(data []byte) bool {
	a, err := netip.ParseAddr(string(data))
	return err == nil && a.Is4()
}

func (c fixedCodec) Decode(data []byte) (int64, error) {
	switch len(data) {
	case 0:
		return 0, nil
	case c.size:
		if c.size == 4 {
			return int64(int32(binary.BigEndian.Uint32(data))), nil
		}
		if looksLikeIP(data) {
			return 0, &CorruptError{Codec: c.name, Data: data, Why: "the text of an IP address (Curator's default data), not a value"}
		}
		return int64(binary.BigEndian.Uint64(data)), nil
	}
	return 0, &CorruptError{Codec: c.name, Data: data, Why: fmt.Sprintf("want %d bytes", c.size)}
}

// limits returns the codec's range.
func limits(c Codec) (lo, hi int64) {
	if f, ok := c.(fixedCodec); ok && f.size == 4 {
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

type asciiCodec struct{}

func (asciiCodec) Name() string { return "kazoo-ascii" }

func (asciiCodec) Encode(n int64) ([]byte, error) { return strconv.AppendInt(nil, n, 10), nil }

func (asciiCodec) Decode(data []byte) (int64, error) {
	if len(data) == 0 {
		return 0, nil
	}
	// Only what repr(int) writes: an optional minus and digits, no spaces,
	// no plus, no leading zeros (so "10.0.0.1" and " 1" are refused).
	s := string(data)
	digits := s
	if digits[0] == '-' {
		digits = digits[1:]
	}
	ok := len(digits) > 0 && (digits == "0" || digits[0] != '0')
	for i := 0; ok && i < len(digits); i++ {
		ok = digits[i] >= '0' && digits[i] <= '9'
	}
	if !ok || s == "-0" {
		return 0, &CorruptError{Codec: "kazoo-ascii", Data: data, Why: "not a decimal integer"}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, &CorruptError{Codec: "kazoo-ascii", Data: data, Why: "beyond int64"}
	}
	return n, nil
}

// add returns cur+delta, or ErrOverflow when it leaves c's range.
func add(c Codec, cur, delta int64) (int64, error) {
	lo, hi := limits(c)
	if (delta > 0 && cur > hi-delta) || (delta < 0 && cur < lo-delta) {
		return 0, fmt.Errorf("%w: %d + %d leaves the range of %s", ErrOverflow, cur, delta, c.Name())
	}
	return cur + delta, nil
}
