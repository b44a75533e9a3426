// Package registry is membership: a node that stays registered (Member),
// the list of a group's members (Group), and on them the registries other
// libraries read and write: Curator x-discovery's service discovery
// (Discovery, Provider), Dubbo's ZooKeeper registry (Dubbo) and
// HiveServer2's (RegisterHive, PickHive, DrainHive). Member plays the part
// of Curator's PersistentNode (and the node of its GroupMember) and of
// kazoo's Party member; Group that of Curator's GroupMember and kazoo's
// Party and ShallowParty, on ZooKeeper and etcd alike.
//
// # Member
//
// A Member is made from a backend.Client, not a Session: after Start one
// goroutine owns the node. It takes the client's current session and
// keeps the node there as its own with the latest data; when the session
// is lost it takes the client's next session (Client.Session opens it)
// and makes the node again. The rules it follows:
//
//   - It watches its own node (an exists watch) and arms the watch again
//     after every event, every reconnection and on every new session: a
//     watch that was not re-armed is how HiveServer2 servers missed their
//     own deregistration (HIVE-24713, HIVE-25846). A node deleted by
//     anyone is made again, unless the member was made
//     WithEndWhenDeleted: then a deletion by someone else ends it (Done,
//     ErrDeregistered), as a drained HiveServer2 must stop. A session
//     loss still makes it again: an ephemeral's deletion counts only once
//     its session has stayed alive for half its timeout after it, since a
//     revoked etcd lease's deletion can reach the watch before the session
//     learns it is gone.
//   - It makes the node again under the SAME name. A sequential node keeps
//     the name its first create got: it is made again with the mode
//     without the sequence (Curator's PersistentNode does the same, and
//     HiveServer2's discovery relies on it). Path returns that name.
//   - A node in the way is deleted by the version read, then the node is
//     made (Dubbo's fix of apache/dubbo#5125): the lost session's
//     ephemeral that the server has not removed yet (ZooKeeper removes it
//     after announcing the expiry, LAYOUTS.md Z4), or another session's
//     node at the path (apache/dubbo#7124). "Not ours" means, for an
//     ephemeral mode, an owner (Stat.EphemeralOwner) other than the
//     session; for a persistent mode, an ephemeral node (a persistent
//     node has no owner to tell, so one found at the path is taken as the
//     member's and given its data). The caller never sees
//     ErrNodeExists, and there are never two nodes. Two Members (in two
//     processes) on one path would take the node from each other for
//     ever: give each its own path.
//   - Every write reads the latest data under the member's lock just
//     before it is sent, and after every write or event the node's data
//     is compared with the latest again: an Update racing a
//     re-registration is never lost, and a node made again never carries
//     data older than the last Update (CURATOR-181). Update waits until
//     the node holds its data while the member is registered; otherwise
//     the next creation of the node uses it. Data someone else sets on
//     the node is set back to the member's (Curator's PersistentNode
//     leaves it): the member owns the node.
//   - A create whose reply was lost (ErrOutcomeUnknown) is settled by
//     reading the node again: its known name and owner say whether it is
//     the member's. For a sequential node's first create, whose name is
//     not known yet, the member looks for a child of the prefix's name
//     owned by its session with its data (ephemeral modes only: a lost
//     first create of a persistent sequential node may leave an orphan).
//   - Close cancels the goroutine first, then deletes the node if it is
//     the member's (an ephemeral owned by the session; a persistent node
//     unless WithKeepOnClose): nothing makes it again after Close has
//     begun, unlike Curator x-discovery's phantom re-registration after
//     unregistering (CURATOR-164). A failed Start closes the member too.
//
// Done is closed when the member is no longer registered and cannot be:
// after Close, after an error no session cures (the client closed, an
// ACL or mode the server refuses: a *MemberError), or, made
// WithEndWhenDeleted, after a deletion by someone else (ErrDeregistered). A lost connection or
// session is not such an error: Registered turns false and the member
// registers again when it can; Changes wakes a caller at each change.
//
// Parents are made persistent, never containers: a container parent of an
// empty group can be removed by the server under a member about to make
// its node again (LAYOUTS.md Z6).
//
// # Group layouts (the same node names and data on both backends)
//
//	Curator GroupMember    <path>/<id>                    data: the payload
//	kazoo Party            <path>/<uuid4 hex>__party__    data: the id
//	kazoo ShallowParty     <path>/<uuid4 hex>-<id>        data: the payload (kazoo writes none)
//
// All member nodes are ephemeral. A Group reads all three layouts
// (ParseMember): a name of 32 lowercase hex digits and "__party__" is a
// Party member whose ID is its data; 32 hex digits, '-' and more is a
// ShallowParty member whose ID is what follows the first '-'; any other
// name is a Curator member whose ID is the name. Join writes the Group's
// layout (WithLayout; Curator by default). Data is empty unless given:
// zkrecipes never writes Curator's default of the local IP address
// (LAYOUTS.md Z2).
//
// A Group follows its path with a recipes/cache ChildrenCache, so it
// survives reconnections and session losses as the cache does, and
// Listen returns the cache's listener. As Curator's getCurrentMembers
// does, Members always includes the members joined through the Group
// that are registered, even before the cache has seen them.
//
// On etcd a member's node is a key under the session's lease: the lease's
// end deletes it in one revision, and a node in the way is one with
// another lease (LAYOUTS.md E6).
//
// # Curator x-discovery instances
//
// Instance is the JSON Curator's JsonInstanceSerializer keeps at
// <base>/<service>/<id> (InstancePath). MarshalJSON writes exactly what
// Curator 5 writes in its default compatible mode, with no "enabled"
// field, so readers older than CURATOR-394 still parse it; ParseInstance
// reads either mode and ignores unknown fields; empty data is
// ErrBadInstance (CURATOR-574). ServiceType.Mode gives the node mode:
// DYNAMIC is ephemeral, DYNAMIC_SEQUENTIAL ephemeral-sequential, STATIC
// and PERMANENT persistent. ParseURISpec and URISpec.Build follow
// Curator's UriSpec, including that {port} is the plain port even when
// there is an SSL port. A test checks all of it against Curator 5.4.0
// itself, both ways.
//
// # Service discovery
//
// Discovery is x-discovery's ServiceDiscovery. Register keeps an instance
// at InstancePath with a Member, in its type's mode, filling in what
// Curator's builder does (a UUID id, DYNAMIC, the registration time).
// Every type is registered again after a session loss, always with the
// latest Update (CURATOR-181); Close deletes every type, STATIC and
// PERMANENT included, as Curator does (CURATOR-94), and nothing registers
// it again (CURATOR-164). Services and Instances read the server when
// called; a node whose data is not an instance is left out and logged.
//
// A Provider is Curator's ServiceProvider over its ServiceCache: a
// ChildrenCache of the service, from which an immutable snapshot of the
// qualifying instances (parsed, Curator's "enabled" not false, every
// WithFilter true, not down) is rebuilt at each cache event. Instance picks
// from the snapshot with RoundRobin (the default), Random or Sticky, or a
// Strategy of the caller's, without allocating (about 7 to 21 ns on this
// project's 2-core machines), or returns ErrNoInstances. NoteError and
// WithDownPolicy are Curator's DownInstancePolicy (30 s, 2 errors), local
// to the Provider. Tested both ways against Curator 5.4.0: what Curator
// registers and updates our Provider sees with every field, and what we
// register Curator's queryForInstances and ServiceProvider read.
//
// # Dubbo's ZooKeeper registry
//
// Dubbo's ZooKeeper registry names a node after the URL-encoded full URL,
// under /<root, default dubbo>/<encoded interface>/<category>.
// DubboURL.String is Dubbo's full URL string with its parameters sorted;
// DubboEncode is Java's URLEncoder (a space becomes '+', '~' becomes
// %7E, hex in upper case), checked against Java's own. DubboCategory is
// the category parameter, else providers. Providers and consumers are
// ephemeral; routers and configurators written with dynamic=false are
// persistent. Node data is empty.
//
// Dubbo (NewDubbo, the root being "/" + Dubbo's group) registers URLs as
// Members at DubboNodePath: ephemeral, or persistent and kept at Close for
// dynamic=false, as Dubbo's doRegister and destroy do; Unregister deletes.
// Subscribe follows one service's categories (providers, configurators and
// routers by default) or "*" (every service, later ones too) on
// recipes/cache, and an empty category is Dubbo's empty:// URL for it, so
// a consumer clears its list. A subscriber never misses a provider's
// leave, however slowly it reads: lists that dropped a URL it last saw are
// never merged away. Subscribe writes nothing and does not filter by
// group, version or enabled (Dubbo's UrlUtils.isMatch): that is the
// caller's. This is the interface-level registry of Dubbo 2.x and 3.x, not
// Dubbo 3's application-level service discovery or its metadata report.
// Node names and URLs in the tests are ones Dubbo 2.5.5 and 2.7.5 wrote;
// no Dubbo runs here, so there is no interop test with Dubbo itself.
//
// # HiveServer2
//
// A server registers /<namespace>/serverUri=<host>:<port>;version=<v>;sequence=<10 digits>
// as an ephemeral-sequential node; HiveNodePrefix builds the name before
// the sequence, and a Member re-creates it under the same name after a
// session loss. ParseHiveNode also reads Kyuubi's serviceUri= form with
// its extra parts such as refId. The node data is host:port (older
// servers) or k=v;... when publish.configs is on; ParseHiveData reads it
// as the JDBC driver does and picks the HTTP or binary port by transport
// mode. HiveMatchesVersion is the test hiveserver2 --deregister <v> uses
// (the name contains "version=<v>;").
//
// RegisterHive registers a server so, WithEndWhenDeleted: data host:port,
// or with a conf the k=v form (keys sorted; the bind host, instance URI,
// transport mode and port filled in as Hive does). HiveServers lists the
// servers by name; PickHive picks a random live server as the JDBC driver
// does (unreadable nodes skipped, ErrNoServers when none); DrainHive
// deletes one version's nodes as hiveserver2 --deregister does, and those
// servers' members end with ErrDeregistered instead of registering again.
package registry
