// Package watchcmd is zkctl watch: changes to a node or a subtree, printed
// or handed to a command.
package watchcmd
