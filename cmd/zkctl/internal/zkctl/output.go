package zkctl

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/zkrecipes/zkrecipes/backend"
)

// JSONOutput reports whether -o json was asked for.
func JSONOutput(c *cli.Context) bool { return c.String("output") == "json" }

// emit writes v as one line of JSON (NDJSON for streams).
func Emit(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// StatJSON is a Stat as zkctl prints it.
type StatJSON struct {
	Version        int32     `json:"version"`
	CVersion       int32     `json:"cversion"`
	CreateToken    int64     `json:"create_token"`
	ModifyToken    int64     `json:"modify_token"`
	EphemeralOwner int64     `json:"ephemeral_owner"`
	DataLength     int32     `json:"data_length"`
	NumChildren    int32     `json:"num_children"`
	Created        time.Time `json:"created"`
	Modified       time.Time `json:"modified"`
}

// ToStatJSON converts a backend.Stat for printing.
func ToStatJSON(st backend.Stat) StatJSON {
	return StatJSON{st.Version, st.CVersion, st.CreateToken, st.ModifyToken, st.EphemeralOwner, st.DataLength, st.NumChildren, st.Created, st.Modified}
}

// NodeJSON is a node as zkctl prints it: data as text when it is UTF-8,
// else base64 with "encoding":"base64".
type NodeJSON struct {
	Path     string    `json:"path"`
	Data     *string   `json:"data,omitempty"`
	Encoding string    `json:"encoding,omitempty"`
	Stat     *StatJSON `json:"stat,omitempty"`
}

// DataJSON sets n's data: as text when it is UTF-8, else base64 with its
// encoding named.
func DataJSON(n *NodeJSON, data []byte) {
	s := string(data)
	if !utf8.Valid(data) {
		s = base64.StdEncoding.EncodeToString(data)
		n.Encoding = "base64"
	}
	n.Data = &s
}

// PrintStat prints a stat as text, one "name = value" a line.
func PrintStat(w io.Writer, st backend.Stat) {
	fmt.Fprintf(w, "version = %d\ncversion = %d\ncreate_token = %d\nmodify_token = %d\nephemeral_owner = %#x\ndata_length = %d\nnum_children = %d\ncreated = %s\nmodified = %s\n",
		st.Version, st.CVersion, st.CreateToken, st.ModifyToken, st.EphemeralOwner, st.DataLength, st.NumChildren,
		st.Created.UTC().Format(time.RFC3339Nano), st.Modified.UTC().Format(time.RFC3339Nano))
}

// Listing says how a list command prints its rows: one JSON object per
// row under -o json, one short line per row under -q, else a table.
type Listing[T any] struct {
	Header string         // the table's header, columns separated by tabs
	Quiet  func(T) string // a row's line under -q (its name)
	JSON   func(T) any    // a row under -o json
	Row    func(T) string // a row of the table, columns separated by tabs
}

// PrintList prints rows to w as l and the command's -o and -q flags say.
func PrintList[T any](c *cli.Context, w io.Writer, rows []T, l Listing[T]) error {
	switch {
	case JSONOutput(c):
		for _, r := range rows {
			if err := Emit(w, l.JSON(r)); err != nil {
				return err
			}
		}
		return nil
	case c.Bool("quiet"):
		for _, r := range rows {
			if _, err := fmt.Fprintln(w, l.Quiet(r)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, l.Header)
	for _, r := range rows {
		fmt.Fprintln(tw, l.Row(r))
	}
	return tw.Flush()
}
