package counter

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// TestCodecBytes: the exact bytes Curator and kazoo write. Broken on
// purpose: CuratorInt64 encoding little-endian -> fails with
// "Encode(1) = 01 00 00 00 00 00 00 00".
func TestCodecBytes(t *testing.T) {
	for _, tc := range []struct {
		c    Codec
		n    int64
		want []byte
	}{
		{CuratorInt64, 1, []byte{0, 0, 0, 0, 0, 0, 0, 1}},
		{CuratorInt64, -1, bytes.Repeat([]byte{0xff}, 8)},
		{CuratorInt64, math.MaxInt64, []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{CuratorInt64, 0x0102030405060708, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{CuratorInt32, 1, []byte{0, 0, 0, 1}},
		{CuratorInt32, -2, []byte{0xff, 0xff, 0xff, 0xfe}},
		{CuratorInt32, math.MinInt32, []byte{0x80, 0, 0, 0}},
		{KazooASCII, 42, []byte("42")},
		{KazooASCII, -7, []byte("-7")},
		{KazooASCII, 0, []byte("0")},
		{KazooASCII, math.MinInt64, []byte("-9223372036854775808")},
	} {
		got, err := tc.c.Encode(tc.n)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s.Encode(%d) = % x, %v; want % x", tc.c.Name(), tc.n, got, err, tc.want)
			continue
		}
		back, err := tc.c.Decode(got)
		if err != nil || back != tc.n {
			t.Errorf("%s.Decode(% x) = %d, %v; want %d", tc.c.Name(), got, back, err, tc.n)
		}
	}
}

// TestCodecEmptyIsZero: empty data reads as 0, as Curator's atomics and
// kazoo read a node made without data. Broken on purpose: empty data
// refused -> fails with "Decode(empty) = 0, counter: corrupt value".
func TestCodecEmptyIsZero(t *testing.T) {
	for _, c := range []Codec{CuratorInt32, CuratorInt64, KazooASCII} {
		for _, data := range [][]byte{nil, {}} {
			if n, err := c.Decode(data); n != 0 || err != nil {
				t.Errorf("%s.Decode(%q) = %d, %v; want 0, nil", c.Name(), data, n, err)
			}
		}
	}
}

// TestCodecJunk: data a codec cannot read is an error naming the bytes,
// never a silent 0; "10.0.0.1" is what Curator writes as default data.
// Broken on purpose: KazooASCII parsing with strconv.ParseInt of the
// trimmed text and no digit check accepted " 1" -> fails on " 1".
func TestCodecJunk(t *testing.T) {
	for _, tc := range []struct {
		c    Codec
		data string
	}{
		{CuratorInt32, "10.0.0.1"},
		{CuratorInt32, "\x00\x00\x01"},
		{CuratorInt32, "\x00\x00\x00\x00\x00\x00\x00\x01"}, // a long where an int is kept
		{CuratorInt64, "10.0.0.1"},                         // 8 bytes, a long's size: refused as an IP
		{CuratorInt64, "10.0.0.1x"},
		{CuratorInt64, "\x00\x00\x00\x01"}, // an int where a long is kept
		{KazooASCII, "10.0.0.1"},
		{KazooASCII, "1.5"}, // a float kazoo could write: not an integer counter
		{KazooASCII, " 1"},
		{KazooASCII, "+1"},
		{KazooASCII, "01"},
		{KazooASCII, "-"},
		{KazooASCII, "-0"},
		{KazooASCII, "99999999999999999999"},
		{KazooASCII, "\x00\x00\x00\x01"},
	} {
		n, err := tc.c.Decode([]byte(tc.data))
		var ce *CorruptError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || !bytes.Equal(ce.Data, []byte(tc.data)) || ce.Codec != tc.c.Name() {
			t.Errorf("%s.Decode(%q) = %d, %v; want a *CorruptError with the bytes", tc.c.Name(), tc.data, n, err)
		}
	}
}

// TestCodecRange: an int32 codec refuses values beyond int32, and add
// refuses a sum beyond the codec's range. Broken on purpose: add without
// the range check -> fails with "add(curator-int64, 9223372036854775807,
// 1) = -9223372036854775808, <nil>; want ErrOverflow".
func TestCodecRange(t *testing.T) {
	for _, n := range []int64{math.MaxInt32 + 1, math.MinInt32 - 1, math.MaxInt64} {
		if b, err := CuratorInt32.Encode(n); !errors.Is(err, ErrOverflow) {
			t.Errorf("CuratorInt32.Encode(%d) = % x, %v; want ErrOverflow", n, b, err)
		}
	}
	// The one long CuratorInt64 cannot store: its bytes spell an IP.
	ip := int64(binary.BigEndian.Uint64([]byte("10.0.0.1")))
	if b, err := CuratorInt64.Encode(ip); !errors.Is(err, ErrOverflow) {
		t.Errorf("CuratorInt64.Encode(%d) = %q, %v; want ErrOverflow", ip, b, err)
	}
	for _, tc := range []struct {
		c          Codec
		cur, delta int64
	}{
		{CuratorInt64, math.MaxInt64, 1},
		{CuratorInt64, math.MinInt64, -1},
		{KazooASCII, math.MaxInt64 - 1, 2},
		{CuratorInt32, math.MaxInt32, 1},
		{CuratorInt32, math.MinInt32, -1},
		{CuratorInt32, 0, math.MaxInt32 + 1},
	} {
		if got, err := add(tc.c, tc.cur, tc.delta); !errors.Is(err, ErrOverflow) {
			t.Errorf("add(%s, %d, %d) = %d, %v; want ErrOverflow", tc.c.Name(), tc.cur, tc.delta, got, err)
		}
	}
	if got, err := add(CuratorInt32, math.MaxInt32-1, 1); err != nil || got != math.MaxInt32 {
		t.Errorf("add(MaxInt32-1, 1) = %d, %v; want MaxInt32", got, err)
	}
	if got, err := add(CuratorInt64, math.MinInt64+1, -1); err != nil || got != math.MinInt64 {
		t.Errorf("add(MinInt64+1, -1) = %d, %v; want MinInt64", got, err)
	}
}

// TestNewer: a Shared's copy moves forward by token, never by version. A
// real server cannot be driven past 2^31 versions in a test, so the
// decision is fed wrapped versions here (CURATOR-688: SharedCount compared
// versions and froze once the version wrapped negative). Broken on
// purpose: newer comparing Version -> fails on "wrapped".
func TestNewer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		v, cur   Versioned
		newerWay bool
	}{
		{"next", Versioned{N: 2, Version: 5, Token: 101}, Versioned{N: 1, Version: 4, Token: 100}, true},
		{"wrapped", Versioned{N: 2, Version: math.MinInt32, Token: 1 << 40}, Versioned{N: 1, Version: math.MaxInt32, Token: 1<<40 - 1}, true},
		{"after-wrap", Versioned{N: 3, Version: math.MinInt32 + 1, Token: 1<<40 + 1}, Versioned{N: 2, Version: math.MinInt32, Token: 1 << 40}, true},
		{"recreated", Versioned{N: 9, Version: 0, Token: 500}, Versioned{N: 1, Version: 70, Token: 400}, true},
		{"same", Versioned{N: 1, Version: 4, Token: 100}, Versioned{N: 1, Version: 4, Token: 100}, false},
		{"older", Versioned{N: 1, Version: math.MaxInt32, Token: 99}, Versioned{N: 2, Version: math.MinInt32, Token: 100}, false},
	} {
		if got := newer(tc.v, tc.cur); got != tc.newerWay {
			t.Errorf("%s: newer(%+v, %+v) = %v; want %v", tc.name, tc.v, tc.cur, got, tc.newerWay)
		}
	}
}
