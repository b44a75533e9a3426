// Package config is a configuration center: values published to nodes,
// decoded into Go types by subscribers that are told of every change and
// reload without a restart (hot reload), with atomic publishes of several
// keys, history and rollback, canaries for labelled subscribers, and
// Dubbo's config center layout, on ZooKeeper and etcd alike.
//
// A Center (New) is the publisher's side and plain reads: Publish,
// CompareAndPublish, PublishAll, Rollback, PublishCanary, Promote, Abort,
// Delete; Read, History, Canaries. Watch and WatchAll are the subscriber's
// side, made on a Center. Everything works through a backend.Client and
// takes the client's current session for each call, so publishers and
// subscribers go on across session losses; no node of the layout belongs to
// a session.
//
// # The layout (the same node names and data on both backends)
//
//	P                          the value: the bytes published, as they are
//	P/.history                 parent of the history (persistent, empty data)
//	P/.history/v-<10 digits>   one Record (JSON) per publish, named by the
//	                           version of P that publish made
//	P/.canary                  parent of the canaries (persistent, empty data)
//	P/.canary/<label>          a candidate value for the subscribers labelled
//	                           label: the bytes, as they are
//
// P's data is only ever the value, so any reader of P (Dubbo, Curator,
// kazoo, zkCli) reads what was published. A key is any valid path but the
// root, with no component named .history or .canary (backend.ErrBadPath).
// The key's Ticket is its node's version (Stat.Version), as Dubbo's ticket
// is. Every node the package creates carries data it chose: the value, a
// record, or empty data for P's missing parents, P/.history and P/.canary,
// never a client's address (Curator's default data for a node created
// without any, which Dubbo then reports as a configuration, apache/dubbo#9239)
// and never ZooKeeper's null.
//
// # Publishing
//
//   - One publish is one Multi: P's create (P's missing parents are made
//     first, persistent with empty data) or its set at the version just read,
//     together with the create of its record, and of P/.history when absent.
//     The value and its history never disagree, and a version has exactly
//     one record.
//   - Publishers race by version: a Multi that meets another publisher's
//     write (a version moved on, a key created, P/.history made) reads
//     again and tries again, until ctx ends. No publish is lost, none
//     overwrites another unseen, and each returns the version it made.
//   - A Multi whose reply was lost (backend.ErrOutcomeUnknown, or the
//     session expired under it) may have landed. Each publish carries a
//     random Nonce in its records; before trying again the publisher reads
//     the record of the version each lost try would have made, and if the
//     nonce is its own, that version is its result. So a publish is never
//     made twice. If that record is gone (trimmed by WithHistory before the
//     publisher could read it), or the center keeps no history and the key
//     moved past that version, the outcome cannot be told, and the error
//     matches backend.ErrOutcomeUnknown rather than risk a second publish.
//     Without history, a key found at that version with the same value is
//     taken as the publish's own.
//   - CompareAndPublish is Dubbo's publishConfigCas: with Absent it creates
//     the key and fails if it exists (of two such creates exactly one wins);
//     with a version it publishes only at that version. A stale ticket is
//     ErrConflict together with the backend's ErrNodeExists, ErrBadVersion
//     or ErrNoNode; the value was not published.
//   - PublishAll publishes several keys in ONE Multi, keys in sorted order,
//     each with its record carrying the batch's id (Record.Batch) and every
//     key's new version (Record.Keys): all keys change or none does (a key
//     that cannot be written, under an ephemeral node say, fails the batch
//     and nothing changes). Parents of new keys are made only when the Multi
//     reports them missing, so a batch refused for its size leaves nothing
//     behind. The backends refuse a Multi they cannot take with
//     backend.ErrTooLarge before sending it: ZooKeeper, a request over
//     1 MiB (jute.maxbuffer); etcd, a transaction of more than 128
//     operations (--max-txn-ops), where each new key costs about 9 writes
//     (P, P/.history and the record, each with its meta keys) and each
//     existing key about 4. Measured on the test servers, with small
//     values: etcd takes 15 new keys or 32 existing ones in one batch;
//     ZooKeeper 185 new keys of 1 KiB. A record holds a base64 copy of the
//     value, so one publish with history takes values up to about 440 KiB
//     on ZooKeeper and 650 KiB on etcd (measured: 449,259 and 673,445
//     bytes); without history, the backend's MaxDataSize.
//   - Delete removes the key with its history and canaries.
//
// # History and rollback
//
// Each publish's Record says the version it made, the value, the Author
// (WithAuthor), the publisher's clock (Time), and what it was: a batch
// (Batch, Keys), a rollback (RollbackOf), a promotion (Canary). After a
// publish the center deletes the records older than the newest
// WithHistory(n) (default 10): best effort, a failure is logged and the
// next publish tries again, so a key may briefly hold more. WithHistory(0)
// writes no history nodes at all: no History, no Rollback, no settling of a
// lost reply by record, and no batch for WatchAll to hold together. History
// returns the records oldest first; Rollback(to) publishes the value of
// version to again as a new version whose record says RollbackOf: to (a
// version without a record is ErrNoVersion). A writer outside this package
// (Dubbo's publishConfig, zkCli) sets P without a record: subscribers see
// its value, History shows a gap, and Rollback cannot return to it.
// Author and Time are what the publisher says; the server does not check
// them.
//
// # Canaries
//
// PublishCanary writes a candidate value at P/.canary/<label> without
// touching P (the key must exist: backend.ErrNoNode otherwise) and without a
// record. A subscriber made WithLabels applies the canary of the first of
// its labels that has one instead of P's value; others never see canaries.
// Promote publishes the canary as P's value in one Multi with its record
// (Canary: the label) and the canary's deletion at the version read, so the
// value promoted is exactly the one removed; Abort deletes the canary, and
// its subscribers go back to P's value. A label with no canary is
// ErrNoCanary for both.
//
// # Subscribers
//
// Watch[T] decodes P's value into a T (JSON, YAML, TOML, Java .properties,
// String, Bytes, or a Decoder of one's own) and checks it WithValidate. It
// follows the key with a recipes/cache Tree (the key, P/.canary and the
// canaries of its labels), so the first read and the watch are one cache's:
// a change between them is not missed (dubbo-go #1322), connection and
// session losses are survived (a resync reports only what differs). Watch
// returns once the first value is applied (Value); Next returns every change
// in order. A value that does not decode or validate is reported
// (Change.Err matches ErrDecode) and not applied: the last good value stays;
// a decoder or validator that panics rejects the value the same way.
// A watcher never applies a value older than one it applied from the same
// node (Snapshot.Token, the node's ModifyToken, only increases per source),
// and applies only values that were published. A slow reader gets every
// rejection and the latest value (changes coalesce).
//
// WatchAll[T] follows several keys and applies a PublishAll's keys together:
// a key's change whose record names a batch waits until every followed key
// of that batch is seen at the batch's write or later. A subscriber reading
// the keys through it never sees half a batch, also when batches write
// different keys and its caches skip versions of a key: the records of the
// versions skipped are read and their batches waited for, as far as the
// history goes back (make WithHistory longer than a watcher can lag).
//
// # Dubbo's config center
//
// DubboPath(group, key) is the node of Dubbo's ZooKeeper config center
// (ZookeeperDynamicConfiguration): /dubbo/config/<group>/<key>, the group
// "dubbo" by default, so Dubbo's global configuration is
// DubboPath("", "dubbo.properties") = /dubbo/config/dubbo/dubbo.properties
// and an application's is DubboPath(app, "dubbo.properties"). Published there
// through a Center on ZooKeeper, a Dubbo application sees:
//
//   - getConfig: the value as published (P's data is nothing else), as a
//     string, and a change of it as a data change of P (MODIFIED);
//   - the key's first publish as P's creation, already with its value, never
//     a client address (apache/dubbo#9239);
//   - publishConfigCas: Dubbo's ticket is P's Stat, whose version is this
//     package's Ticket, so Dubbo and a Center can compare and publish
//     against each other; a Dubbo publish writes no record (see History);
//   - getConfigKeys(group): the children of the group node, which are the
//     keys (history and canaries are below each key, not beside it);
//   - /dubbo, /dubbo/config and the group nodes with empty data.
//
// The Dubbo 2.7 releases that watch the whole root with one Curator
// TreeCache (without its data) also watch the history and canary nodes: a
// watch per node and an event for each record made and trimmed; their
// listeners are registered by the key's path, so those events reach no
// listener. A per-key cache (Dubbo 3's) reads P alone. On etcd the nodes are this module's encoding of
// znodes: only zkrecipes processes (this package, zkctl) read them, not
// Dubbo's etcd config center.
//
// # Failure
//
//   - Bad input before any round trip: a bad path is backend.ErrBadPath, a
//     bad label, ticket or option (or a nil client) ErrBadOption; a closed
//     Center is ErrClosed.
//   - Errors of the backend (backend.ErrNoAuth, ErrTooLarge, ...) come back
//     as the backend returned them, wrapped, so errors.Is matches them.
//   - A publish ends only with ctx or a real failure: conflicts, lost
//     replies and expired sessions are worked through as above. Cancelling
//     ctx while a Multi is in flight leaves its outcome unknown to the
//     caller (the backend's error says so); the key then holds either the
//     old value or the new one with its record, never a mix.
//   - The nodes get the client's default ACL (backend/zk: CreatorAllACL when
//     it has credentials, OpenACL otherwise); there is no ACL option yet.
package config
