// Package config is a configuration center: values published to nodes,
// decoded into Go types by subscribers that are told of every change and
// reload without a restart (hot reload), with atomic publishes of several
// keys, history and rollback, canaries for labelled subscribers, and
// Dubbo's config center layout, on ZooKeeper and etcd alike.
package config
