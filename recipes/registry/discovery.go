package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zkrecipes/zkrecipes/backend"
)

// ErrBadInstance is returned, wrapped, by ParseInstance when the data is not
// a Curator x-discovery instance.
var ErrBadInstance = errors.New("registry: bad instance")

// ServiceType is Curator's ServiceType: it decides the mode of an instance's
// node.
type ServiceType string

// The service types Curator knows.
const (
	ServiceDynamic           ServiceType = "DYNAMIC"
	ServiceDynamicSequential ServiceType = "DYNAMIC_SEQUENTIAL"
	ServiceStatic            ServiceType = "STATIC"
	ServicePermanent         ServiceType = "PERMANENT"
)

// Valid reports whether t is one of the four types Curator knows.
func (t ServiceType) Valid() bool {
	switch t {
	case ServiceDynamic, ServiceDynamicSequential, ServiceStatic, ServicePermanent:
		return true
	}
	return false
}

// Mode is the node mode Curator's ServiceDiscoveryImpl creates an instance of
// this type with: DYNAMIC is Ephemeral, DYNAMIC_SEQUENTIAL is
// EphemeralSequential, STATIC and PERMANENT are Persistent. Any other value
// (including the empty type) is Ephemeral, the mode of Curator's default
// type, DYNAMIC.
func (t ServiceType) Mode() backend.Mode {
	switch t {
	case ServiceDynamicSequential:
		return backend.EphemeralSequential
	case ServiceStatic, ServicePermanent:
		return backend.Persistent
	}
	return backend.Ephemeral
}

// Instance is one Curator x-discovery ServiceInstance, the JSON a
// JsonInstanceSerializer writes as a node's data.
type Instance struct {
	Name    string
	ID      string
	Address string
	Port    *int // nil is written as null
	SSLPort *int // nil is written as null
	// Payload is the payload's JSON as is, with the "@class" property
	// Jackson's type information needs ({"@class":"java.util.LinkedHashMap",...}
	// for a Map payload); nil or empty is written as null. It is written
	// compacted but otherwise unchanged: Curator would re-escape strings its
	// own way, which only matters to byte-for-byte comparisons.
	Payload json.RawMessage
	// RegistrationTimeUTC is milliseconds since the Unix epoch.
	RegistrationTimeUTC int64
	// ServiceType is written as null when empty.
	ServiceType ServiceType
	// URISpec is written as null when nil.
	URISpec *URISpec
}

// URISpec is Curator's UriSpec: a template of literal parts and variables.
type URISpec struct {
	Parts []URISpecPart
}

// URISpecPart is one part of a URISpec: a literal, or the name of a
// variable when Variable is true.
type URISpecPart struct {
	Value    string
	Variable bool
}

// InstancePath is where Curator's DiscoveryPathConstructorImpl puts an
// instance: <base>/<service>/<id>.
func InstancePath(base, service, id string) string {
	return strings.TrimSuffix(base, "/") + "/" + service + "/" + id
}

// MarshalJSON writes i exactly as Curator 5's JsonInstanceSerializer does in
// its default, compatible mode: the fields in Jackson's order, null for an
// absent port, sslPort, payload, serviceType or uriSpec, strings escaped as
// Jackson escapes them, and no "enabled" field nor any other extra field, as
// Curator readers older than CURATOR-394 fail on unknown fields.
func (i Instance) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"name":`)
	jacksonString(&b, i.Name)
	b.WriteString(`,"id":`)
	jacksonString(&b, i.ID)
	b.WriteString(`,"address":`)
	jacksonString(&b, i.Address)
	b.WriteString(`,"port":`)
	jacksonInt(&b, i.Port)
	b.WriteString(`,"sslPort":`)
	jacksonInt(&b, i.SSLPort)
	b.WriteString(`,"payload":`)
	if len(bytes.TrimSpace(i.Payload)) == 0 {
		b.WriteString("null")
	} else if err := json.Compact(&b, i.Payload); err != nil {
		return nil, fmt.Errorf("registry: instance %q payload: %w", i.ID, err)
	}
	b.WriteString(`,"registrationTimeUTC":`)
	b.WriteString(strconv.FormatInt(i.RegistrationTimeUTC, 10))
	b.WriteString(`,"serviceType":`)
	if i.ServiceType == "" {
		b.WriteString("null")
	} else {
		jacksonString(&b, string(i.ServiceType))
	}
	b.WriteString(`,"uriSpec":`)
	if i.URISpec == nil {
		b.WriteString("null")
	} else {
		b.WriteString(`{"parts":[`)
		for n, p := range i.URISpec.Parts {
			if n > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"value":`)
			jacksonString(&b, p.Value)
			b.WriteString(`,"variable":`)
			b.WriteString(strconv.FormatBool(p.Variable))
			b.WriteByte('}')
		}
		b.WriteString("]}")
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func jacksonInt(b *bytes.Buffer, p *int) {
	if p == nil {
		b.WriteString("null")
		return
	}
	b.WriteString(strconv.Itoa(*p))
}

// jacksonString writes s as Jackson's default generator does: '"' and '\\'
// and the control characters below 0x20 escaped (\b \t \n \f \r short, the
// rest \u00XX with upper-case hex), everything else, '<', '>', '&', DEL and
// U+2028 included, written as UTF-8. Invalid UTF-8 becomes U+FFFD, as a
// Java string cannot hold it.
func jacksonString(b *bytes.Buffer, s string) {
	const hex = "0123456789ABCDEF"
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xF])
		default:
			b.WriteRune(r) // utf8.RuneError for invalid bytes
		}
	}
	b.WriteByte('"')
}

// wireInstance is what ParseInstance reads: every field Curator writes,
// "enabled" (written in Curator's non-compatible mode) included. Unknown
// fields are ignored, as Curator does since CURATOR-394.
type wireInstance struct {
	Name                *string         `json:"name"`
	ID                  *string         `json:"id"`
	Address             *string         `json:"address"`
	Port                *int            `json:"port"`
	SSLPort             *int            `json:"sslPort"`
	Payload             json.RawMessage `json:"payload"`
	RegistrationTimeUTC int64           `json:"registrationTimeUTC"`
	ServiceType         json.RawMessage `json:"serviceType"` // nil when absent
	URISpec             *struct {
		Parts []struct {
			Value    string `json:"value"`
			Variable bool   `json:"variable"`
		} `json:"parts"`
	} `json:"uriSpec"`
	Enabled *bool `json:"enabled"`
}

// ParseInstance reads an instance as Curator writes it, in either of its
// serialization modes; unknown fields from newer writers are ignored. As
// with Curator's reader, an absent serviceType is DYNAMIC while an explicit
// null is the empty type, and other absent fields are zero. Data
// that is empty (CURATOR-574), not a JSON object, or names a service type
// Curator does not know is an error wrapping ErrBadInstance (and the JSON
// error, if any).
func ParseInstance(data []byte) (Instance, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return Instance{}, fmt.Errorf("%w: empty data", ErrBadInstance)
	}
	if data[0] != '{' {
		return Instance{}, fmt.Errorf("%w: not a JSON object", ErrBadInstance)
	}
	if !utf8.Valid(data) {
		return Instance{}, fmt.Errorf("%w: invalid UTF-8", ErrBadInstance)
	}
	var w wireInstance
	if err := json.Unmarshal(data, &w); err != nil {
		return Instance{}, fmt.Errorf("%w: %w", ErrBadInstance, err)
	}
	i := Instance{
		Name:                deref(w.Name),
		ID:                  deref(w.ID),
		Address:             deref(w.Address),
		Port:                w.Port,
		SSLPort:             w.SSLPort,
		RegistrationTimeUTC: w.RegistrationTimeUTC,
	}
	switch st := bytes.TrimSpace(w.ServiceType); {
	case st == nil:
		i.ServiceType = ServiceDynamic // Curator's ServiceInstance default, used when the field is absent
	case !bytes.Equal(st, []byte("null")):
		var s string
		if err := json.Unmarshal(st, &s); err != nil {
			return Instance{}, fmt.Errorf("%w: serviceType: %w", ErrBadInstance, err)
		}
		i.ServiceType = ServiceType(s)
	}
	if p := bytes.TrimSpace(w.Payload); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		i.Payload = append(json.RawMessage(nil), p...)
	}
	if i.ServiceType != "" && !i.ServiceType.Valid() {
		return Instance{}, fmt.Errorf("%w: unknown service type %q", ErrBadInstance, i.ServiceType)
	}
	if w.URISpec != nil {
		s := &URISpec{Parts: []URISpecPart{}}
		for _, p := range w.URISpec.Parts {
			s.Parts = append(s.Parts, URISpecPart{Value: p.Value, Variable: p.Variable})
		}
		i.URISpec = s
	}
	return i, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ParseURISpec splits a Curator UriSpec template such as
// "{scheme}://{address}:{port}" into its parts as Curator's UriSpec
// constructor does: text between '{' and '}' is a variable whose name is
// trimmed of spaces; "{}" gives no part, and literal parts are not merged
// ("a{}b" is two parts), as in Curator. Curator rejects a nested '{',
// a '}' without its '{' and an unclosed '{'; ParseURISpec keeps such a brace
// as literal text instead, so a spec it returns always builds.
func ParseURISpec(spec string) URISpec {
	s := URISpec{Parts: []URISpecPart{}}
	add := func(v string, variable bool) {
		s.Parts = append(s.Parts, URISpecPart{Value: v, Variable: variable})
	}
	for spec != "" {
		open := strings.IndexAny(spec, "{}")
		if open < 0 {
			add(spec, false)
			break
		}
		if open > 0 {
			add(spec[:open], false)
		}
		if spec[open] == '}' { // '}' without '{'
			add("}", false)
			spec = spec[open+1:]
			continue
		}
		rest := spec[open+1:]
		end := strings.IndexAny(rest, "{}")
		if end < 0 || rest[end] == '{' { // unclosed or nested
			add("{", false)
			spec = rest
			continue
		}
		if end > 0 { // Curator's tokenizer drops the empty "{}"
			add(strings.TrimSpace(rest[:end]), true)
		}
		spec = rest[end+1:]
	}
	return s
}

// Build fills the template in as Curator's UriSpec.build does: scheme is
// "https" when the instance has an SSL port and "http" otherwise; port is
// the plain port even then (Curator 5.4.0 does so; use ssl-port for the
// SSL one); an absent port is empty; ssl-port, name, id,
// address, registration-time-utc and service-type (lower case) come from
// the instance; "[" and "]" stand for "{" and "}"; any other variable is
// looked up in vars, and is empty when missing.
func (s URISpec) Build(i Instance, vars map[string]string) string {
	var b strings.Builder
	for _, p := range s.Parts {
		if !p.Variable {
			b.WriteString(p.Value)
			continue
		}
		switch p.Value {
		case "scheme":
			if i.SSLPort != nil {
				b.WriteString("https")
			} else {
				b.WriteString("http")
			}
		case "name":
			b.WriteString(i.Name)
		case "id":
			b.WriteString(i.ID)
		case "address":
			b.WriteString(i.Address)
		case "port":
			if i.Port != nil {
				b.WriteString(strconv.Itoa(*i.Port))
			}
		case "ssl-port":
			if i.SSLPort != nil {
				b.WriteString(strconv.Itoa(*i.SSLPort))
			}
		case "registration-time-utc":
			b.WriteString(strconv.FormatInt(i.RegistrationTimeUTC, 10))
		case "service-type":
			b.WriteString(strings.ToLower(string(i.ServiceType)))
		case "[":
			b.WriteByte('{')
		case "]":
			b.WriteByte('}')
		default:
			b.WriteString(vars[p.Value])
		}
	}
	return b.String()
}
