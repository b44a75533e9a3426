// Package configcmd is zkctl config: read, publish and follow the keys of
// recipes/config's configuration center. get prints a key's value and its
// ticket; set, cas (a publish at a ticket, Dubbo's publishConfigCas),
// rollback and publish-all (several keys in one transaction) publish,
// each with a history record naming --author; history lists those
// records; watch prints each value a subscriber applies, or runs a
// COMMAND with each one on its stdin (hot reload without a restart).
package configcmd
