package zk

// Hooks for the external tests of WatchTree.

// ForceOneShotTrees makes s's WatchTrees use the one-shot mirror, as on a
// server without persistent watches.
func ForceOneShotTrees(s *Session) { s.persist.mode.Store(treeModeOneShot) }

// TreeMode names the way s's WatchTrees run: "unknown" before the first
// addWatch was answered, "persistent" or "one-shot".
func TreeMode(s *Session) string {
	switch s.persist.mode.Load() {
	case treeModePersistent:
		return "persistent"
	case treeModeOneShot:
		return "one-shot"
	}
	return "unknown"
}

// TreeReads are the reads s's persistent WatchTrees made, and the
// reconnections after which they compared nothing (the server's zxid had
// not moved).
type TreeReads struct{ Light, Lists, Data, QuietGaps int64 }

// TreeReadsOf returns the reads s's persistent WatchTrees made so far.
func TreeReadsOf(s *Session) TreeReads {
	p := &s.persist
	return TreeReads{p.lightReads.Load(), p.listReads.Load(), p.dataReads.Load(), p.quietGaps.Load()}
}

// RemoveWatchType is the watcher type s's removeWatches took (0: none sent yet).
func RemoveWatchType(s *Session) int32 { return s.persist.removeType.Load() }
