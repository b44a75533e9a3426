package etcd

import (
	"encoding/binary"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/zkrecipes/zkrecipes/backend"
)

// A node is stored in two values: what a set changes, in the data key, and
// what never changes after the create, in the meta key M(p), so that a set
// is one blind, guarded put with no read before it.
//
// Data key D(p):
//
//	byte  0      format version (1)
//	byte  1      flags (flagRecreated)
//	bytes 2-9    mtime, Unix milliseconds, big endian
//	bytes 10-    data
//
// Meta key M(p):
//
//	byte  0      format version (1)
//	byte  1      mode (backend.Mode)
//	bytes 2-9    ctime, Unix milliseconds
//	bytes 10-17  TTL in milliseconds (TTL modes), else 0
const (
	dataHeaderLen = 10
	metaLen       = 18
	formatVersion = 1

	// flagRecreated marks the put that deleted a node and created it again
	// in one Multi: etcd cannot delete and put one key in one transaction,
	// so the new node overwrites the old key, and watchers read this flag
	// to report the deletion. Any later put clears it.
	flagRecreated = 1 << 0
)

// header is a node's metadata: its meta key and the header of its data key.
type header struct {
	mode  backend.Mode
	flags byte
	ctime int64 // ms
	mtime int64 // ms
	ttl   int64 // ms
}

// dataValue returns the data key's value for h and data.
func (h header) dataValue(data []byte) string {
	b := make([]byte, dataHeaderLen+len(data))
	b[0] = formatVersion
	b[1] = h.flags
	binary.BigEndian.PutUint64(b[2:], uint64(h.mtime))
	copy(b[dataHeaderLen:], data)
	return string(b)
}

// metaValue returns the meta key's value for h.
func (h header) metaValue() string {
	var b [metaLen]byte
	b[0] = formatVersion
	b[1] = byte(h.mode)
	binary.BigEndian.PutUint64(b[2:], uint64(h.ctime))
	binary.BigEndian.PutUint64(b[10:], uint64(h.ttl))
	return string(b[:])
}

// indexed reports whether the reaper looks after nodes of the mode.
func (h header) indexed() bool { return h.mode == backend.Container || h.mode.IsTTL() }

// parseData splits a data key's value into its header fields (flags,
// mtime) and data. A value this backend did not write reads as raw data.
func parseData(v []byte) (header, []byte) {
	if len(v) < dataHeaderLen || v[0] != formatVersion {
		return header{}, v
	}
	return header{flags: v[1], mtime: int64(binary.BigEndian.Uint64(v[2:]))}, v[dataHeaderLen:]
}

// parseHeader returns a node's header from its data and meta keys (either
// may be nil: a missing meta key reads as a persistent node) and its data.
func parseHeader(d, m *mvccpb.KeyValue) (header, []byte) {
	var h header
	var data []byte
	if d != nil {
		h, data = parseData(d.Value)
	}
	h.mode = backend.Persistent
	if m != nil && len(m.Value) >= metaLen && m.Value[0] == formatVersion && backend.Mode(m.Value[1]).Valid() {
		v := m.Value
		h.mode = backend.Mode(v[1])
		h.ctime = int64(binary.BigEndian.Uint64(v[2:]))
		h.ttl = int64(binary.BigEndian.Uint64(v[10:]))
	}
	return h, data
}

// extras corrects the counts etcd keeps, for nodes a Multi changed more than
// once in one transaction (etcd bumps a key's version once per transaction):
//
//	Stat.CVersion    = version(C) + cextra
//	Stat.Version     = version(D) - 1 + vextra
//	Stat.CreateToken = ctoken if > 0; mod revision of E if -1; else create revision of D
//
// E(p) exists only while one of them is not zero.
type extras struct {
	cextra int32
	vextra int32
	ctoken int64
}

const extrasLen = 16

func (e extras) zero() bool { return e == extras{} }

func (e extras) value() string {
	var b [extrasLen]byte
	binary.BigEndian.PutUint32(b[0:], uint32(e.cextra))
	binary.BigEndian.PutUint32(b[4:], uint32(e.vextra))
	binary.BigEndian.PutUint64(b[8:], uint64(e.ctoken))
	return string(b[:])
}

// parseExtras reads E(p); a missing key is all zero. A ctoken of -1 is
// resolved to the key's mod revision.
func parseExtras(kv *mvccpb.KeyValue) extras {
	if kv == nil || len(kv.Value) < extrasLen {
		return extras{}
	}
	v := kv.Value
	e := extras{
		cextra: int32(binary.BigEndian.Uint32(v[0:])),
		vextra: int32(binary.BigEndian.Uint32(v[4:])),
		ctoken: int64(binary.BigEndian.Uint64(v[8:])),
	}
	if e.ctoken == -1 {
		e.ctoken = kv.ModRevision
	}
	return e
}

// versionBase is what etcd's version of D(p) counts beyond Stat.Version: 1
// for a node (its create is a put), 0 for the root, which has no D key until
// its data is first set.
func versionBase(p string) int64 {
	if p == "/" {
		return 0
	}
	return 1
}

// nodeState is a node as read: its keys and its number of children.
type nodeState struct {
	path       string
	d, c, e, m *mvccpb.KeyValue
	children   int64
}

// exists reports whether the node exists (the root always does).
func (n nodeState) exists() bool { return n.d != nil || n.path == "/" }

// stat assembles the node's Stat and returns its data too.
func (n nodeState) stat() (backend.Stat, []byte) {
	ex := parseExtras(n.e)
	st := backend.Stat{NumChildren: int32(n.children), CVersion: ex.cextra, Mode: backend.Persistent}
	if n.c != nil {
		st.CVersion += int32(n.c.Version)
	}
	var data []byte
	if n.d != nil {
		h, d := parseHeader(n.d, n.m)
		data = d
		st.Version = int32(n.d.Version-versionBase(n.path)) + ex.vextra
		st.CreateToken = n.d.CreateRevision
		st.ModifyToken = n.d.ModRevision
		st.EphemeralOwner = n.d.Lease
		st.DataLength = int32(len(d))
		if n.m != nil {
			st.Created = time.UnixMilli(h.ctime)
		}
		st.Modified = time.UnixMilli(h.mtime)
		st.Mode = h.mode
		if h.mode.IsTTL() {
			st.TTL = time.Duration(h.ttl) * time.Millisecond
		}
		if n.path == "/" {
			st.CreateToken = 0
		}
	} else {
		st.Version = ex.vextra
	}
	if ex.ctoken > 0 {
		st.CreateToken = ex.ctoken
	}
	return st, data
}

// createToken returns the node's Stat.CreateToken without building the rest.
func (n nodeState) createToken() int64 {
	if ex := parseExtras(n.e); ex.ctoken > 0 {
		return ex.ctoken
	}
	if n.d == nil || n.path == "/" {
		return 0
	}
	return n.d.CreateRevision
}
