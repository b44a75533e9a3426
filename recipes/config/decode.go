package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// Decoder turns a published value into a T. A Watcher calls it on every value
// it is about to apply; an error rejects the value (ErrDecode, wrapping the
// error), and the last good value stays. data is shared with the watcher's
// cache: a decoder must not modify it, nor keep it past its return unless it
// copies it (Bytes does).
type Decoder[T any] func(data []byte) (T, error)

// JSON returns a Decoder of JSON values (encoding/json). Fields of the JSON
// that T does not have are ignored, so publishers may add keys before their
// subscribers know them.
func JSON[T any]() Decoder[T] {
	return func(data []byte) (T, error) {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			var zero T
			return zero, fmt.Errorf("json: %w", err)
		}
		return v, nil
	}
}

// YAML returns a Decoder of YAML values (go.yaml.in/yaml/v3, the format of
// Dubbo's governance rules). Keys that T does not have are ignored.
func YAML[T any]() Decoder[T] {
	return func(data []byte) (T, error) {
		var v T
		if err := yaml.Unmarshal(data, &v); err != nil {
			var zero T
			return zero, fmt.Errorf("yaml: %w", err)
		}
		return v, nil
	}
}

// TOML returns a Decoder of TOML documents (github.com/BurntSushi/toml).
// Keys that T does not have are ignored.
func TOML[T any]() Decoder[T] {
	return func(data []byte) (T, error) {
		var v T
		if err := toml.Unmarshal(data, &v); err != nil {
			var zero T
			return zero, fmt.Errorf("toml: %w", err)
		}
		return v, nil
	}
}

// Bytes returns a Decoder that hands out the value as it was published,
// copied (the caller may keep and modify it).
func Bytes() Decoder[[]byte] {
	return func(data []byte) ([]byte, error) { return bytes.Clone(data), nil }
}

// String returns a Decoder that hands out the value as a string.
func String() Decoder[string] {
	return func(data []byte) (string, error) { return string(data), nil }
}

// Properties returns a Decoder of Java .properties files, as
// java.util.Properties.load reads them (dubbo.properties is one), except that
// the bytes are read as UTF-8 rather than ISO-8859-1:
//
//   - a line whose first non-blank character is '#' or '!' is a comment;
//     blank lines are skipped; leading blanks (space, tab, form feed) of every
//     line are dropped;
//   - a line ending in an odd number of backslashes continues on the next
//     line (the backslash and the next line's leading blanks are dropped);
//   - the key ends at the first unescaped '=', ':' or blank; blanks around the
//     separator are dropped, and one '=' or ':' after blanks is part of it;
//   - in keys and values, \t \n \r \f and \uXXXX (UTF-16, surrogate pairs
//     joined) are escapes, and a backslash before any other character stands
//     for that character ("\=" "\:" "\ " "\\" "\#");
//   - a key given twice keeps its last value.
//
// A malformed \uXXXX escape is an error, as it is in Java.
func Properties() Decoder[map[string]string] {
	return parseProperties
}

func parseProperties(data []byte) (map[string]string, error) {
	out := map[string]string{}
	lines := naturalLines(string(data))
	for i := 0; i < len(lines); i++ {
		first := i + 1 // line number, for errors
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		var logical strings.Builder
		for {
			if !endsInEscape(line) {
				logical.WriteString(line)
				break
			}
			logical.WriteString(line[:len(line)-1])
			if i+1 >= len(lines) {
				break
			}
			i++
			line = strings.TrimLeft(lines[i], " \t\f")
		}
		key, value, err := splitProperty(logical.String())
		if err != nil {
			return nil, fmt.Errorf("properties: line %d: %w", first, err)
		}
		out[key] = value
	}
	return out, nil
}

// naturalLines splits s at "\n", "\r" and "\r\n".
func naturalLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			lines = append(lines, s[start:i])
			start = i + 1
		case '\r':
			lines = append(lines, s[start:i])
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

// endsInEscape reports whether line ends in an odd number of backslashes.
func endsInEscape(line string) bool {
	n := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// splitProperty splits a logical line into its unescaped key and value.
func splitProperty(s string) (key, value string, err error) {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '\\' {
			i += 2
			continue
		}
		if c == '=' || c == ':' || isBlank(c) {
			break
		}
		i++
	}
	if i > len(s) {
		i = len(s)
	}
	rawKey := s[:i]
	if i < len(s) {
		sep := s[i]
		i++
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if isBlank(sep) && i < len(s) && (s[i] == '=' || s[i] == ':') {
			i++
			for i < len(s) && isBlank(s[i]) {
				i++
			}
		}
	}
	if key, err = unescapeProperty(rawKey); err != nil {
		return "", "", err
	}
	if value, err = unescapeProperty(s[i:]); err != nil {
		return "", "", err
	}
	return key, value, nil
}

// unescapeProperty resolves the escapes of a key or value.
func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	var units []uint16 // pending \u escapes, joined into runes at the end of a run
	flush := func() {
		if len(units) > 0 {
			b.WriteString(string(utf16.Decode(units)))
			units = units[:0]
		}
	}
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			flush()
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += size
			continue
		}
		i++
		if i >= len(s) {
			break // a trailing lone backslash stands for nothing, as in Java
		}
		c := s[i]
		if c == 'u' {
			if i+5 > len(s) {
				return "", fmt.Errorf("malformed \\uXXXX escape %q", s[i-1:])
			}
			n, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf("malformed \\uXXXX escape %q", s[i-1:i+5])
			}
			units = append(units, uint16(n))
			i += 5
			continue
		}
		flush()
		switch c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += size
			continue
		}
		i++
	}
	flush()
	return b.String(), nil
}
