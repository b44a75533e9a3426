package registry

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// ErrBadURL is returned, wrapped, by ParseDubboURL and DubboDecode for text
// Dubbo could not read.
var ErrBadURL = errors.New("registry: bad dubbo url")

// DubboURL is a Dubbo registry URL, such as a provider's
// dubbo://10.0.0.5:20880/com.foo.Svc?anyhost=true&side=provider.
type DubboURL struct {
	Protocol string
	Username string
	Password string
	Host     string
	Port     int // 0 is no port
	Path     string
	Params   map[string]string
}

// ParseDubboURL reads a decoded URL as Dubbo's URL.valueOf does: the
// parameters after the first '?' split on '&' (a part without '=' is its
// own value), the protocol before "://" (or ":/"), the path after the next
// '/', user and password before the last '@', and the port after the last
// ':'. Dubbo's copying of "default.k" parameters to "k" is not done, so
// String gives back what was parsed. A URL that starts with "://", has a
// port that is not a number, or is empty is an error wrapping ErrBadURL.
func ParseDubboURL(s string) (DubboURL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DubboURL{}, fmt.Errorf("%w: empty", ErrBadURL)
	}
	var u DubboURL
	rest := s
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		u.Params = map[string]string{}
		for _, part := range strings.Split(rest[i+1:], "&") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if k, v, ok := strings.Cut(part, "="); ok {
				u.Params[k] = v
			} else {
				u.Params[part] = part
			}
		}
		rest = rest[:i]
	}
	if i := strings.Index(rest, "://"); i >= 0 {
		if i == 0 {
			return DubboURL{}, fmt.Errorf("%w: %q: missing protocol", ErrBadURL, s)
		}
		u.Protocol, rest = rest[:i], rest[i+3:]
	} else if i := strings.Index(rest, ":/"); i >= 0 {
		if i == 0 {
			return DubboURL{}, fmt.Errorf("%w: %q: missing protocol", ErrBadURL, s)
		}
		u.Protocol, rest = rest[:i], rest[i+1:]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		u.Path, rest = rest[i+1:], rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		u.Username, u.Password, _ = strings.Cut(rest[:i], ":")
		rest = rest[i+1:]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && i < len(rest)-1 && strings.LastIndexByte(rest, '%') < i {
		port, err := strconv.Atoi(rest[i+1:])
		if err != nil || port < 0 {
			return DubboURL{}, fmt.Errorf("%w: %q: bad port %q", ErrBadURL, s, rest[i+1:])
		}
		u.Port, rest = port, rest[:i]
	}
	u.Host = rest
	return u, nil
}

// String is Dubbo's url.toFullString(): protocol://[user[:pass]@]host[:port]/path?k=v&...
// with the parameters sorted by key (Dubbo sorts them in a TreeMap), values
// trimmed of spaces and empty keys left out. A password is written only
// with a user, a port only with a host, and the "://" only with a protocol.
func (u DubboURL) String() string {
	var b strings.Builder
	if u.Protocol != "" {
		b.WriteString(u.Protocol)
		b.WriteString("://")
	}
	if u.Username != "" {
		b.WriteString(u.Username)
		if u.Password != "" {
			b.WriteByte(':')
			b.WriteString(u.Password)
		}
		b.WriteByte('@')
	}
	if u.Host != "" {
		b.WriteString(u.Host)
		if u.Port > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(u.Port))
		}
	}
	if u.Path != "" {
		b.WriteByte('/')
		b.WriteString(u.Path)
	}
	keys := make([]string, 0, len(u.Params))
	for k := range u.Params {
		if k != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // byte order is Java's String order outside surrogate pairs
	for n, k := range keys {
		if n == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strings.TrimSpace(u.Params[k]))
	}
	return b.String()
}

// DubboEncode is Dubbo's URL.encode, java.net.URLEncoder.encode(s, "UTF-8"):
// ASCII letters, digits and ". - * _" are kept, a space becomes '+', and
// every other byte of the UTF-8 text becomes %XX in upper case ('~' too).
func DubboEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '-', c == '*', c == '_':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		}
	}
	return b.String()
}

// DubboDecode is Dubbo's URL.decode, java.net.URLDecoder.decode(s, "UTF-8"):
// '+' is a space and %XX a byte. A '%' not followed by two hex digits is an
// error wrapping ErrBadURL, as URLDecoder throws on it.
func DubboDecode(s string) (string, error) {
	d, err := url.QueryUnescape(s)
	if err != nil {
		return "", fmt.Errorf("%w: decode %q: %w", ErrBadURL, s, err)
	}
	return d, nil
}

// dubboRoot is ZookeeperRegistry's root: "/" + the registry's group,
// "dubbo" when empty.
func dubboRoot(root string) string {
	root = strings.Trim(root, "/")
	if root == "" {
		root = "dubbo"
	}
	return "/" + root
}

// DubboCategoryPath is the node under which Dubbo's ZookeeperRegistry keeps
// one category of one interface: /<root>/<encoded interface>/<category>,
// with root "dubbo" when empty. The interface "*" (dubbo-admin's "every
// service") is the root itself, as in Dubbo's toServicePath.
func DubboCategoryPath(root, iface, category string) string {
	service := dubboRoot(root)
	if iface != "*" {
		service += "/" + DubboEncode(iface)
	}
	return service + "/" + category
}

// DubboNodePath is the node Dubbo's ZookeeperRegistry registers u as:
// DubboCategoryPath of u's interface (its "interface" parameter, else its
// path) and category, then DubboEncode(u.String()). An empty category is
// DubboCategory(u).
func DubboNodePath(root string, u DubboURL, category string) string {
	if category == "" {
		category = DubboCategory(u)
	}
	iface := u.Params["interface"]
	if iface == "" {
		iface = u.Path
	}
	return DubboCategoryPath(root, iface, category) + "/" + DubboEncode(u.String())
}

// DubboCategory is the category Dubbo's ZookeeperRegistry files u under:
// its "category" parameter, "providers" when it has none. The protocol does
// not decide: Dubbo itself stamps category=consumers on consumer:// URLs and
// admin tools stamp category=routers on route:// and
// category=configurators on override:// URLs; one without the parameter
// lands in providers with Dubbo too.
func DubboCategory(u DubboURL) string {
	if c := u.Params["category"]; c != "" {
		return c
	}
	return "providers"
}
