// Package dubbocmd is zkctl dubbo: read Dubbo's ZooKeeper registry as
// Dubbo's ZookeeperRegistry writes it (recipes/registry's DubboURL and
// node paths): the interfaces under the root with their provider and
// consumer counts, and each interface's providers and consumers as decoded
// URLs.
package dubbocmd
