package scenes

import (
	"github.com/zkrecipes/zkrecipes/cmd/zkctl/internal/demo"
)

// All returns the demo's scenes in the order they play. A recipe's scene
// is a file of its own in this package, and a line here.
func All() []demo.Scene {
	return []demo.Scene{hotReload, serviceView, lockQueue, fencing, leaderElection, workQueue, taskDistribution, doubleBarrier, discovery}
}
