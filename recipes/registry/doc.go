// Package registry is membership: a node that stays registered (Member),
// the list of a group's members (Group), and the layouts other libraries
// read (Curator x-discovery instances, Dubbo's registry, HiveServer2's
// server URIs).
package registry
