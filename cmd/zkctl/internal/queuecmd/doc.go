// Package queuecmd is zkctl queue: put items into a recipes/queue queue,
// take one and hand it to a command (acknowledged when the command
// succeeds, given back when it fails, the command stopped when the item
// is lost), and look at a queue: its length, next item, items and dead
// letters.
package queuecmd
