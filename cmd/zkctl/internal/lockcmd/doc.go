// Package lockcmd is zkctl lock: hold a lock (a mutex, one side of a
// read-write lock, a semaphore lease) while a command runs, and list a
// lock's holders.
package lockcmd
