// Package barriercmd is zkctl barrier: raise, lower and wait on a single
// barrier of recipes/barrier, and take part in a double barrier: enter it
// with n members, run a command inside, leave it; or watch until every
// member has left.
package barriercmd
