package backend

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SequenceDigits is the width of the zero-padded suffix a sequential create
// appends to the node name, as ZooKeeper does ("%010d").
const SequenceDigits = 10

// ValidatePath reports whether p follows ZooKeeper's path rules: absolute,
// '/'-separated, no empty component, no "." or ".." component, no trailing
// '/' except the root "/", valid UTF-8, and none of the characters ZooKeeper
// refuses (NUL, control characters U+0001-U+001F and U+007F-U+009F, and
// U+D800-U+F8FF, U+FFF0-U+FFFF). A bad path is an error wrapping ErrBadPath.
func ValidatePath(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty path", ErrBadPath)
	}
	if p[0] != '/' {
		return fmt.Errorf("%w: %q is not absolute", ErrBadPath, p)
	}
	if p == "/" {
		return nil
	}
	if p[len(p)-1] == '/' {
		return fmt.Errorf("%w: %q ends with '/'", ErrBadPath, p)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrBadPath, p)
	}
	for _, r := range p {
		if r == 0 || (r > 0 && r < 0x20) || (r >= 0x7f && r <= 0x9f) ||
			(r >= 0xd800 && r <= 0xf8ff) || (r >= 0xfff0 && r <= 0xffff) {
			return fmt.Errorf("%w: %q has the invalid character %U", ErrBadPath, p, r)
		}
	}
	for _, c := range strings.Split(p[1:], "/") {
		switch c {
		case "":
			return fmt.Errorf("%w: %q has an empty component", ErrBadPath, p)
		case ".", "..":
			return fmt.Errorf("%w: %q has a relative component %q", ErrBadPath, p, c)
		}
	}
	return nil
}

// ValidateName reports whether name can be one component of a path.
func ValidateName(name string) error {
	if name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("%w: %q is not a node name", ErrBadPath, name)
	}
	return ValidatePath("/" + name)
}

// Join returns parent/name for a valid parent path and a node name.
func Join(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// Parent returns the parent of a valid path; the parent of "/" is "/".
func Parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// Base returns the last component of a valid path ("" for "/").
func Base(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// Depth returns the number of components in a valid path: 0 for "/", 1 for "/a".
func Depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// Sequence parses the 10-digit suffix a sequential create appended to name.
// It returns false when name has no such suffix.
func Sequence(name string) (int64, bool) {
	if len(name) < SequenceDigits {
		return 0, false
	}
	n, err := strconv.ParseInt(name[len(name)-SequenceDigits:], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// FormatSequence returns n as the 10-digit, zero-padded suffix of a sequential node.
// ZooKeeper counts with a signed 32-bit counter; negative numbers print as ZooKeeper prints them.
func FormatSequence(n int32) string {
	return fmt.Sprintf("%010d", n)
}
