// Package election is leader election over a backend.Session, on ZooKeeper
// or etcd alike: a leader latch (Curator's LeaderLatch), a leader selector
// (Curator's LeaderSelector, client-go's OnStartedLeading), etcd-style
// Campaign, Resign, Proclaim, Leader and Observe, and an active/standby
// elector in the layout of Hadoop HA's ActiveStandbyElector.
//
//	el, err := election.New(session, "/election/scheduler", election.WithValue([]byte(hostname)))
//	err = el.Run(ctx, func(leaderCtx context.Context, term *election.Term) error {
//		// lead until leaderCtx is cancelled; fence writes with term.Token()
//	})
//
// # Ordering
//
// An election is a directory node. Each candidate creates one protected
// ephemeral-sequential child (its name carries a GUID, so a create whose
// reply was lost is found again rather than made twice; the directory is
// created as a Container when missing). The candidate with the smallest
// sequence number leads; every other candidate watches only the candidate
// just before it, so a leader's leaving wakes exactly one candidate, and
// candidates lead in the order they joined. Campaign, Latch.Await and Run
// hand the leader a Term: its fencing token, a Done channel and a Context
// cancelled when the term ends, Guard, Proclaim and Resign.
//
// A term ends when its leader resigns (Term.Resign, Latch.Close, Run's
// function returning: the node is deleted and the next candidate leads at
// once), or when leadership is lost: the session is lost or closed, the node
// is deleted by someone else, or (under the default loss policy) the
// session's connection is suspended. A Latch or a Run with WithRequeue whose
// term was lost while its session lives joins again with a new node, so
// every term has a node, and a token, of its own.
//
// # Node layout
//
// The default layout, Curator, is the one of Curator's LeaderLatch; the
// Kazoo layout (WithLayout(Kazoo)) is the one of kazoo's Election, which is
// a kazoo Lock:
//
//	Curator: <path>/_c_<guid>-latch-<10 digits>
//	Kazoo:   <path>/<32 hex digits>__lock__<10 digits>
//
// Both order by the digits after the marker. The node's data is the
// candidate's value (WithValue, changed by Proclaim); Curator's LeaderLatch
// stores its id there and kazoo's Election its identifier, so Leader and
// Participants show theirs too. Children whose names the layout does not
// recognise are ignored. On etcd the nodes are the keys backend/etcd maps
// these znodes to, attached to the session's lease.
//
// Every node an election creates (candidates' nodes, the directory and its
// ancestors when missing, an ActiveStandby's lock node and breadcrumb) gets
// the ACL of WithACL, or else the session's default: on ZooKeeper with
// credentials, creator-only (backend.CreatorAllACL), so a session without
// them can neither read the candidates nor join (backend.ErrNoAuth).
// Candidates of several users need an ACL naming all of them. etcd has no
// per-node ACLs: WithACL is backend.ErrUnsupported there (New fails).
//
// # Leadership is not mutual exclusion
//
// A leader learns it has lost leadership only after the fact: a paused
// process, a slow network or an expired session can leave a former leader
// still acting while the next one already leads. Leadership alone therefore
// does not protect an external resource. Every term carries a fencing token,
// Term.Token: the CreateToken of the winning node (ZooKeeper czxid, etcd
// create revision), strictly larger for every later term of the election.
// Send it with every write and have the resource refuse a token lower than
// the highest it has seen. For state kept in the same ZooKeeper or etcd,
// Term.Guard applies writes in one transaction with a check that the
// leader's node still exists, so the server refuses them once the term has
// ended there.
//
// # Loss policy
//
// The loss policy says what a term does while the session's connection is
// down (Suspended), when the session may still live on the server but
// nothing can be checked. OnSuspend (the default) ends the term at once:
// the leader stops before the server can expire its session and elect
// another, at the price of a new election on every connection blip. OnLost
// keeps the term until the session is lost; the leader then keeps acting
// through a blip. A session that has not heard from the servers for its
// timeout is Lost on its own, counted from a moment the server had
// certainly heard from it, so even a leader cut off for good steps down
// before the server can expire its session and elect another; only a
// process paused across that moment may act as leader late, which the
// fencing token catches. Curator offers the
// same choice as its ConnectionStateErrorPolicy (the standard policy acts
// on SUSPENDED, SessionConnectionStateErrorPolicy on LOST only; Curator
// Tech Note 14 weighs them). Whatever the policy, use the fencing token.
//
// # Observing
//
// Leader returns the current leader; Participants lists every candidate in
// order. Observe streams the leader: it watches the directory's children
// and the leader's node, and sends the leader (with its value) whenever it
// changes. Its channel holds one value, and a value not yet read is
// replaced by a newer one: a slow reader never gets a stale leader, but
// quick changes may coalesce into the latest.
//
// # Active/standby
//
// ActiveStandby is Hadoop HA's layout under a root node:
//
//	<root>/ActiveStandbyElectorLock   ephemeral, the candidate's value: the active holds it
//	<root>/ActiveBreadCrumb           persistent, the value of the last active
//
// Every standby watches the lock node (that is the layout: there is no
// queue) and tries to create it when it goes. The winner reads the
// breadcrumb; if it names another candidate, the previous active ended
// without cleaning up and may still be running, so the winner calls its
// FenceFunc with the breadcrumb's data. If fencing fails, the winner gives
// the lock node up and stays standby, and tries again after the retry
// interval. Otherwise it writes its own breadcrumb (in one transaction
// with a check of the lock node) and becomes active. A graceful exit deletes
// the breadcrumb (only the version it wrote), then the lock node, so the
// next active does not fence it; an active that loses its term leaves the
// breadcrumb for the next one to fence.
//
// # Compatibility
//
// On ZooKeeper, a Latch or Campaign with the Curator layout and a Curator
// LeaderLatch on the same path take part in one election: they read the
// same names the same way (sequence after "latch-") and each watches its
// predecessor; exactly one leads. With the Kazoo layout our nodes are
// those of a kazoo Election on the same path. Whatever layout it writes, a
// candidate orders every candidate node Curator or kazoo writes on the path
// by sequence number (LeaderLatch's "-latch-", LeaderSelector's "-lock-",
// kazoo Election's "__lock__"), so it never leads while one of theirs does.
// The other way round, each library sees only its own names:
//
//	                       ours waits for it   it waits for our Curator layout   for our Kazoo layout
//	Curator LeaderLatch    yes                 yes                               no (orders kazoo's names as text)
//	Curator LeaderSelector yes                 no (reads "-lock-" only)          no
//	kazoo Election         yes                 no (takes no extra patterns)      yes
//
// So use the layout of the library that shares the election. ZooKeeper's
// sequence numbers go negative past 2147483647; candidates are ordered as
// the server assigned them, a negative number after every positive one.
//
// The ActiveStandby layout is that of Hadoop's ActiveStandbyElector (node
// names and roles; Hadoop stores a protobuf of the active's address as the
// value, which this package passes through as bytes). On etcd, elections
// are shared only with other zkrecipes clients.
//
// # Failure
//
// Campaign, Run and a Latch never report leadership on a session that is
// gone: the node is read back on the live session first. A Campaign whose
// ctx ends deletes its node. Every blocking call takes a ctx first. Errors
// match ErrNotLeader, ErrLost, ErrClosed, ErrNoLeader, ErrFenceFailed and
// ErrNoValue with errors.Is, or the backend's sentinels (backend.ErrBadPath
// for a bad path).
package election
