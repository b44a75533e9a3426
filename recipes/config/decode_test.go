package config

import (
	"maps"
	"strings"
	"testing"
)

// TestProperties reads .properties text as java.util.Properties.load does
// (comments, blanks, the three separators, continuation lines, escapes).
// Broken on purpose: with the key scan not skipping escaped characters,
// `a\=b=c` split at the escaped '=' (got map["a":"b=c" ...], want
// map["a=b":"c" ...]); with continuation lines keeping their leading
// blanks, "continued = one \\\n     two" got "one      two", want "one two".
func TestProperties(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"separators", "a=1\nb:2\nc 3\nd\t4\ne = 5\nf : 6\ng   =   7\nh\f8", map[string]string{
			"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8"}},
		{"only one separator taken", "a==1\nb::2\nc = = 3\nd :=4", map[string]string{
			"a": "=1", "b": ":2", "c": "= 3", "d": "=4"}},
		{"comments and blanks", "# a comment\n! another\n   # indented comment\n\n   \nk=v\n", map[string]string{"k": "v"}},
		{"comment not continued", "# comment \\\nk=v", map[string]string{"k": "v"}},
		{"leading blanks", "   \t key = value  ", map[string]string{"key": "value  "}},
		{"continued", "continued = one \\\n     two", map[string]string{"continued": "one two"}},
		{"continued twice", "k=a\\\n  b\\\n\tc", map[string]string{"k": "abc"}},
		{"continuation line starting with #", "k=a\\\n  #b", map[string]string{"k": "a#b"}},
		{"even backslashes do not continue", "k=a\\\\\nn=2", map[string]string{"k": `a\`, "n": "2"}},
		{"continued at the end", "k=a\\", map[string]string{"k": "a"}},
		{"escapes", `k=tab\tnl\ncr\rff\fq\"x\z`, map[string]string{"k": "tab\tnl\ncr\rff\fq\"xz"}},
		{"escaped separators in keys", `a\=b=c` + "\n" + `x\:y:z` + "\n" + `sp\ ace=1` + "\n" + `\#notcomment=2`, map[string]string{
			"a=b": "c", "x:y": "z", "sp ace": "1", "#notcomment": "2"}},
		{"unicode escapes", `k=caf\u00e9 \u4e2d \uD83D\uDE00`, map[string]string{"k": "café 中 😀"}},
		{"utf-8 as is", "clé=värde", map[string]string{"clé": "värde"}},
		{"key only", "lonely\nother=", map[string]string{"lonely": "", "other": ""}},
		{"line endings", "a=1\r\nb=2\rc=3\n", map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"last wins", "k=1\nk=2", map[string]string{"k": "2"}},
		{"dubbo", "dubbo.registry.address=zookeeper://127.0.0.1:2181\ndubbo.protocol.port=20880", map[string]string{
			"dubbo.registry.address": "zookeeper://127.0.0.1:2181", "dubbo.protocol.port": "20880"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Properties()([]byte(tt.in))
			if err != nil {
				t.Fatalf("Properties(%q): %v", tt.in, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("Properties(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
	for _, bad := range []string{`k=\u12`, `k=\uzzzz`, `\u00g0=v`} {
		if got, err := Properties()([]byte(bad)); err == nil {
			t.Errorf("Properties(%q) = %q; want an error for the malformed \\u escape", bad, got)
		}
	}
}

type typedConfig struct {
	Name    string `json:"name" yaml:"name" toml:"name"`
	Port    int    `json:"port" yaml:"port" toml:"port"`
	Enabled bool   `json:"enabled" yaml:"enabled" toml:"enabled"`
}

// TestDecoders: each built-in decoder fills a Go type, ignores fields the
// type does not have, and refuses what is not its format.
func TestDecoders(t *testing.T) {
	want := typedConfig{Name: "svc", Port: 8080, Enabled: true}
	for _, tt := range []struct {
		name      string
		decode    Decoder[typedConfig]
		good, bad string
	}{
		{"json", JSON[typedConfig](), `{"name":"svc","port":8080,"enabled":true,"extra":[1]}`, `{"name":`},
		{"yaml", YAML[typedConfig](), "name: svc\nport: 8080\nenabled: true\nextra: 1\n", "name: [unclosed"},
		{"toml", TOML[typedConfig](), "name = \"svc\"\nport = 8080\nenabled = true\nextra = 1\n", "name = "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.decode([]byte(tt.good))
			if err != nil || got != want {
				t.Errorf("decode(good) = %+v, %v; want %+v", got, err, want)
			}
			if got, err := tt.decode([]byte(tt.bad)); err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("decode(%q) = %+v, %v; want an error naming %s", tt.bad, got, err, tt.name)
			}
		})
	}
	data := []byte("raw\x00bytes")
	b, err := Bytes()(data)
	if err != nil || string(b) != string(data) {
		t.Errorf("Bytes = %q, %v", b, err)
	}
	b[0] = 'R'
	if data[0] != 'r' {
		t.Errorf("Bytes handed out the cache's own slice: changing it changed the input")
	}
	if s, err := String()(data); err != nil || s != "raw\x00bytes" {
		t.Errorf("String = %q, %v", s, err)
	}
}
