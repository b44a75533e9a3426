package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/zkrecipes/zkrecipes/backend"
)

func isNoNode(err error) bool { return errors.Is(err, backend.ErrNoNode) }

// validateKey checks that p can name a key: a valid path, not the root, and
// no component naming one of the layout's own nodes (.history, .canary).
func validateKey(p string) error {
	if err := backend.ValidatePath(p); err != nil {
		return err
	}
	if p == "/" {
		return backend.Errorf("config", p, backend.ErrBadPath, errors.New("the root cannot be a key"))
	}
	for _, part := range strings.Split(p[1:], "/") {
		if part == historyDir || part == canaryDir {
			return backend.Errorf("config", p, backend.ErrBadPath, fmt.Errorf("%q is a node of the layout, not a key", part))
		}
	}
	return nil
}

// keyState is what a publish read of a key before writing it.
type keyState struct {
	path       string
	exists     bool
	version    int32 // the key's version, when it exists
	hasHistory bool  // P/.history exists
}

// next returns the version the next publish makes.
func (k keyState) next() int32 {
	if !k.exists {
		return 0
	}
	return k.version + 1
}

// readKey reads the state of the key at p.
func (c *Center) readKey(ctx context.Context, s backend.Session, p string) (keyState, error) {
	k := keyState{path: p}
	st, err := s.Exists(ctx, p)
	if err != nil {
		return k, err
	}
	if st == nil {
		return k, nil
	}
	k.exists, k.version = true, st.Version
	if c.opts.history > 0 && st.NumChildren > 0 {
		hst, err := s.Exists(ctx, HistoryPath(p))
		if err != nil {
			return k, err
		}
		k.hasHistory = hst != nil
	}
	return k, nil
}

// explicit returns data, or empty data for nil: every node we create carries
// data we chose (Curator would put the client's address in a node created
// without data, apache/dubbo#9239; ZooKeeper would store a null).
func explicit(data []byte) []byte {
	if data == nil {
		return []byte{}
	}
	return data
}

// keyOps returns the operations publishing value at k: the create or the
// versioned set of the key, and, with history, P/.history when absent and
// the record rec of the new version.
func (c *Center) keyOps(k keyState, value []byte, rec Record) ([]backend.Op, error) {
	var ops []backend.Op
	if k.exists {
		ops = append(ops, backend.SetOp{Path: k.path, Data: explicit(value), Version: k.version})
	} else {
		ops = append(ops, backend.CreateOp{Path: k.path, Data: explicit(value), Mode: backend.Persistent})
	}
	if c.opts.history == 0 {
		return ops, nil
	}
	if !k.hasHistory {
		ops = append(ops, backend.CreateOp{Path: HistoryPath(k.path), Data: []byte{}, Mode: backend.Persistent})
	}
	rec.Version = k.next()
	rec.Value = explicit(value)
	data, err := MarshalRecord(rec)
	if err != nil {
		return nil, err
	}
	ops = append(ops, backend.CreateOp{Path: HistoryEntryPath(k.path, rec.Version), Data: data, Mode: backend.Persistent})
	return ops, nil
}

// makeParents creates the missing ancestors of p as persistent nodes with
// empty data (not backend.CreateParents, which sends no data: ZooKeeper
// stores that as null).
func makeParents(ctx context.Context, s backend.Session, p string) error {
	parent := backend.Parent(p)
	if parent == "/" {
		return nil
	}
	if st, err := s.Exists(ctx, parent); err != nil || st != nil {
		return err
	}
	cur := ""
	for _, part := range strings.Split(parent[1:], "/") {
		cur += "/" + part
		if _, err := s.Create(ctx, cur, []byte{}, backend.Persistent); err != nil && !errors.Is(err, backend.ErrNodeExists) {
			return err
		}
	}
	return nil
}

// outcome is what a failed Multi of a publish means.
type outcome int

const (
	failed   outcome = iota // an error to return
	conflict                // another writer got in: read again and retry
	unknown                 // the reply was lost: the Multi may have landed
	noParent                // a key's parent is missing: make it and retry
	keyTaken                // the key's own op failed on its condition (CAS: a stale ticket)
)

// classify says what a publish Multi's error err means; keys are the paths
// of the keys the Multi publishes.
func classify(err error, keys []string) (outcome, string) {
	if errors.Is(err, backend.ErrConnectionLoss) || errors.Is(err, backend.ErrSessionExpired) {
		return unknown, "" // the request may have been applied before the end
	}
	var me *backend.MultiError
	if !errors.As(err, &me) {
		return failed, ""
	}
	p := me.Op.OpPath()
	switch me.Op.(type) {
	case backend.CreateOp:
		if slices.Contains(keys, p) {
			if errors.Is(me.Err, backend.ErrNoNode) {
				return noParent, p
			}
			if errors.Is(me.Err, backend.ErrNodeExists) {
				return keyTaken, p
			}
			return failed, p
		}
		if errors.Is(me.Err, backend.ErrNodeExists) || errors.Is(me.Err, backend.ErrNoNode) {
			return conflict, p // P/.history made by another, a stale record, or P deleted
		}
	case backend.SetOp:
		if slices.Contains(keys, p) && (errors.Is(me.Err, backend.ErrBadVersion) || errors.Is(me.Err, backend.ErrNoNode)) {
			return keyTaken, p
		}
	case backend.DeleteOp, backend.CheckOp:
		if errors.Is(me.Err, backend.ErrBadVersion) || errors.Is(me.Err, backend.ErrNoNode) {
			return conflict, p
		}
	}
	return failed, p
}

// attempt is one try of a publish: the versions it would make, by key.
type attempt map[string]int32

// landed reports whether one of the tries whose reply was lost landed: the
// record of the version it would have made of its first key carries nonce.
// Without history there is no record: a try landed when the key is at that
// version with the value published (someone else publishing the same value
// at that moment is taken for us); a key that moved further leaves it
// unknown (an error matching backend.ErrOutcomeUnknown).
func (c *Center) landed(ctx context.Context, s backend.Session, tries []attempt, first string, value []byte, nonce string) (attempt, error) {
	for _, a := range tries {
		v := a[first]
		if c.opts.history == 0 {
			data, st, err := s.Get(ctx, first)
			if isNoNode(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if st.Version == v && bytes.Equal(data, value) {
				return a, nil
			}
			if st.Version > v {
				return nil, backend.Errorf("publish", first, backend.ErrOutcomeUnknown, fmt.Errorf("version %d may be ours; without history there is no record to tell", v))
			}
			continue
		}
		data, _, err := s.Get(ctx, HistoryEntryPath(first, v))
		if isNoNode(err) {
			st, err := s.Exists(ctx, first)
			if err != nil {
				return nil, err
			}
			if st != nil && st.Version >= v {
				return nil, backend.Errorf("publish", first, backend.ErrOutcomeUnknown, fmt.Errorf("the record of version %d, which may be ours, is gone", v))
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		r, err := ParseRecord(data)
		if err == nil && r.Nonce == nonce {
			return a, nil
		}
	}
	return nil, nil
}

// change is one key of a publish: its value, and the ticket it must still
// have (cas) or not.
type change struct {
	path   string
	value  []byte
	cas    bool
	ticket Ticket
}

// publish is the loop under every publish: read the keys, send one Multi
// with their values, records and extra's operations, and on a conflict
// read again and retry; a lost reply is settled by the record's nonce.
// extra, when not nil, is called on each try with the session and returns
// operations to add (Promote's delete of the canary), or an error to end
// with. rec is the template of every key's record.
func (c *Center) publish(ctx context.Context, changes []change, rec Record, extra func(context.Context, backend.Session) ([]backend.Op, error)) (map[string]Ticket, error) {
	slices.SortFunc(changes, func(a, b change) int { return strings.Compare(a.path, b.path) })
	keys := make([]string, len(changes))
	for i, ch := range changes {
		if err := validateKey(ch.path); err != nil {
			return nil, err
		}
		if i > 0 && ch.path == changes[i-1].path {
			return nil, fmt.Errorf("%w: key %s given twice", ErrBadOption, ch.path)
		}
		if ch.cas && (ch.ticket < Absent || ch.ticket > math.MaxInt32) {
			return nil, fmt.Errorf("%w: ticket %d", ErrBadOption, ch.ticket)
		}
		keys[i] = ch.path
	}
	rec.Author = c.opts.author
	rec.Nonce = backend.NewGUID()
	var tries []attempt // tries whose reply was lost
	for {
		s, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		if len(tries) > 0 {
			a, err := c.landed(ctx, s, tries, keys[0], changes[0].value, rec.Nonce)
			if sessionEnded(ctx, err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if a != nil {
				return c.done(ctx, s, a), nil
			}
		}
		states := make([]keyState, len(changes))
		a := attempt{}
		for i, ch := range changes {
			var k keyState
			k, err = c.readKey(ctx, s, ch.path)
			if err != nil {
				break
			}
			if ch.cas && TicketOf(statOf(k)) != ch.ticket {
				return nil, staleTicket(ch.path, ch.ticket, k)
			}
			states[i] = k
			a[ch.path] = k.next()
		}
		if sessionEnded(ctx, err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(changes) > 1 {
			rec.Keys = map[string]int32(a)
		}
		rec.Time = time.Now().UnixMilli()
		var ops []backend.Op
		for i, ch := range changes {
			kops, err := c.keyOps(states[i], ch.value, rec)
			if err != nil {
				return nil, err
			}
			ops = append(ops, kops...)
		}
		if extra != nil {
			eops, err := extra(ctx, s)
			if err != nil {
				return nil, err
			}
			ops = append(ops, eops...)
		}
		if c.beforeMulti != nil {
			c.beforeMulti()
		}
		_, err = s.Multi(ctx, ops...)
		if err == nil {
			return c.done(ctx, s, a), nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if errors.Is(err, backend.ErrTooLarge) {
			return nil, fmt.Errorf("config: a publish of %d keys (%d operations) is more than the backend takes in one request: %w", len(keys), len(ops), err)
		}
		what, p := classify(err, keys)
		switch what {
		case unknown:
			tries = append(tries, a)
			c.opts.logger.Debug("config: publish reply lost; settling by its record", "key", keys[0], "version", a[keys[0]], "err", err)
		case noParent:
			if err := makeParents(ctx, s, p); err != nil && !sessionEnded(ctx, err) {
				return nil, err
			}
		case keyTaken:
			if i := slices.Index(keys, p); i >= 0 && changes[i].cas {
				return nil, fmt.Errorf("%w: %w", ErrConflict, err)
			}
		case conflict:
			if err := c.dropStaleRecord(ctx, s, p, err); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
}

// dropStaleRecord deletes the record at p that made a publish fail with
// ErrNodeExists when it names a version the key has not reached: a leftover
// no publish can explain (a writer outside this package), which would
// otherwise fail every publish of that version. A record of a version the key
// has reached is another publisher's and stays.
func (c *Center) dropStaleRecord(ctx context.Context, s backend.Session, p string, err error) error {
	v, ok := ParseHistoryEntryName(backend.Base(p))
	if !ok || !errors.Is(err, backend.ErrNodeExists) {
		return nil
	}
	key := backend.Parent(backend.Parent(p))
	st, rerr := s.Exists(ctx, key)
	if rerr != nil || (st != nil && st.Version >= v) {
		return rerr
	}
	c.opts.logger.Warn("config: deleting a history record of a version the key has not reached", "key", key, "version", v)
	if derr := s.Delete(ctx, p, backend.AnyVersion); derr != nil && !isNoNode(derr) {
		return derr
	}
	return nil
}

// sessionEnded reports whether err is the end of the session a publish was
// using (ErrSessionExpired) while ctx lives: the publish goes on with the
// client's next session, since nothing it writes belongs to a session.
func sessionEnded(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && errors.Is(err, backend.ErrSessionExpired)
}

// statOf returns a Stat standing for k for TicketOf.
func statOf(k keyState) *backend.Stat {
	if !k.exists {
		return nil
	}
	return &backend.Stat{Version: k.version}
}

// staleTicket is the error of a CAS whose ticket t is not the key's state k.
func staleTicket(p string, t Ticket, k keyState) error {
	kind := backend.ErrBadVersion
	switch {
	case t == Absent:
		kind = backend.ErrNodeExists
	case !k.exists:
		kind = backend.ErrNoNode
	}
	return fmt.Errorf("%w: %w", ErrConflict, backend.Errorf("publish", p, kind, fmt.Errorf("ticket %v, key at %v", t, TicketOf(statOf(k)))))
}

// done trims the history of every key of a landed publish and returns its
// tickets.
func (c *Center) done(ctx context.Context, s backend.Session, a attempt) map[string]Ticket {
	out := make(map[string]Ticket, len(a))
	for p, v := range a {
		out[p] = Ticket(v)
		c.trim(ctx, s, p, v)
	}
	return out
}

// trim deletes the records of the key at p older than its newest
// WithHistory ones, after a publish made version v. Best effort: a failure
// is logged, and the next publish tries again.
func (c *Center) trim(ctx context.Context, s backend.Session, p string, v int32) {
	n := c.opts.history
	if n == 0 || int64(v)+1 <= int64(n) {
		return // this life of the key has made at most n versions
	}
	names, _, err := s.Children(ctx, HistoryPath(p))
	if err != nil {
		c.opts.logger.Warn("config: history not trimmed", "key", p, "err", err)
		return
	}
	var versions []int32
	for _, name := range names {
		if v, ok := ParseHistoryEntryName(name); ok {
			versions = append(versions, v)
		}
	}
	if len(versions) <= n {
		return
	}
	slices.Sort(versions)
	for _, old := range versions[:len(versions)-n] {
		if err := s.Delete(ctx, HistoryEntryPath(p, old), backend.AnyVersion); err != nil && !isNoNode(err) {
			c.opts.logger.Warn("config: history record not deleted", "key", p, "version", old, "err", err)
		}
	}
}

// Publish sets the value of the key at path, creating it (and its missing
// parents, as persistent nodes with empty data) if absent. The value and its
// history record (HistoryEntryPath of the new version, with P/.history when
// needed) are written in one Multi; a conflict with another publisher is
// read again and retried until ctx ends, and a publish whose reply was lost
// is settled by reading its record, so a publish is never lost nor made
// twice. Records beyond WithHistory are deleted afterwards (best effort,
// logged). It returns the new ticket (the key's new version).
func (c *Center) Publish(ctx context.Context, path string, value []byte) (Ticket, error) {
	out, err := c.publish(ctx, []change{{path: path, value: value}}, Record{RollbackOf: -1}, nil)
	if err != nil {
		return 0, err
	}
	return out[path], nil
}

// CompareAndPublish publishes value only if the key is still at ticket t:
// with Absent it creates the key and fails if it exists; otherwise it sets
// the key if its version is t. A stale ticket is an error matching
// ErrConflict and the backend's ErrBadVersion, ErrNodeExists or ErrNoNode:
// Dubbo's publishConfigCas. A ticket that is neither Absent nor a version is
// ErrBadOption.
func (c *Center) CompareAndPublish(ctx context.Context, path string, value []byte, t Ticket) (Ticket, error) {
	out, err := c.publish(ctx, []change{{path: path, value: value, cas: true, ticket: t}}, Record{RollbackOf: -1}, nil)
	if err != nil {
		return 0, err
	}
	return out[path], nil
}

// PublishAll publishes every key of values in one Multi (keys in sorted
// order), each with its history record carrying the batch's id and every
// key's new version (Record.Batch, Record.Keys): all change or none does.
// A batch the backend cannot take in one request (ZooKeeper: 1 MiB; etcd:
// 128 operations) is backend.ErrTooLarge before anything is sent. Conflicts
// with other publishers are read again and retried, as Publish does. An
// empty map publishes nothing.
func (c *Center) PublishAll(ctx context.Context, values map[string][]byte) (map[string]Ticket, error) {
	if len(values) == 0 {
		return map[string]Ticket{}, nil
	}
	changes := make([]change, 0, len(values))
	for p, v := range values {
		changes = append(changes, change{path: p, value: v})
	}
	rec := Record{RollbackOf: -1}
	if len(values) > 1 {
		rec.Batch = backend.NewGUID()
	}
	return c.publish(ctx, changes, rec, nil)
}

// Delete deletes the key at path with its history and canaries. An absent
// key is no error.
func (c *Center) Delete(ctx context.Context, path string) error {
	if err := validateKey(path); err != nil {
		return err
	}
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	return backend.DeleteAll(ctx, s, path)
}
