package mirrorcmd

import "github.com/zkrecipes/zkrecipes/backend"

// SetSourceHook makes the next mirrors hand their source client to f
// (nil: no more); the caller must not run two mirrors at once.
func SetSourceHook(f func(backend.Client)) { testHookSource = f }
