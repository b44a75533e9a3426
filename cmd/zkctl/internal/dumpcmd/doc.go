// Package dumpcmd is zkctl dump, restore and cp: a subtree as JSON, and
// back, across clusters and backends.
package dumpcmd
