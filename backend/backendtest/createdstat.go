package backendtest

import (
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

// testCreatedStat: a create given CreatedStat fills the Stat with what a
// read right after it returns, where the backend says it does
// (Capabilities.CreatedStat), and leaves it alone where it does not.
// (Broken on purpose: the etcd backend giving the transaction's revision
// minus one as the CreateToken failed the comparison with Exists.)
func testCreatedStat(t *testing.T, h *harness) {
	s := h.session(t)
	fills := s.Capabilities().CreatedStat
	mustCreate(t, s, "/cs", nil, backend.Persistent)
	for _, c := range []struct {
		path string
		mode backend.Mode
		data string
	}{
		{"/cs/p", backend.Persistent, "persistent"},
		{"/cs/e", backend.Ephemeral, ""},
		{"/cs/s-", backend.PersistentSequential, "seq"},
		{"/cs/es-", backend.EphemeralSequential, "eseq"},
	} {
		var st backend.Stat
		p, err := s.Create(ctx(t), c.path, []byte(c.data), c.mode, backend.CreatedStat(&st))
		if err != nil {
			t.Fatalf("Create(%s, %v): %v", c.path, c.mode, err)
		}
		if !fills {
			if st != (backend.Stat{}) {
				t.Fatalf("%s: the backend says it does not fill CreatedStat, yet it wrote %+v", p, st)
			}
			continue
		}
		read, err := s.Exists(ctx(t), p)
		if err != nil || read == nil {
			t.Fatalf("Exists(%s): %v, %v", p, read, err)
		}
		if !st.Created.Equal(read.Created) || !st.Modified.Equal(read.Modified) {
			t.Fatalf("%s: created stat times %v / %v, read %v / %v", p, st.Created, st.Modified, read.Created, read.Modified)
		}
		st.Created, st.Modified = time.Time{}, time.Time{}
		r := *read
		r.Created, r.Modified = time.Time{}, time.Time{}
		if st != r {
			t.Fatalf("%s: created stat %+v, a read right after it %+v", p, st, r)
		}
	}
}
