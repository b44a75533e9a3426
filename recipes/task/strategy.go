package task

// Strategy picks the worker a task goes to.
type Strategy interface {
	// Pick returns the id of the worker that gets t, or false to leave t
	// pending for now. workers are the live workers, by id, each with its
	// Load (tasks assigned to it, counting the ones picked so far in this
	// round); the master never gives a worker more than its Capacity, nor a
	// task to a worker without t's labels, whatever Pick returns.
	Pick(t Record, workers []WorkerInfo) (string, bool)
}

// StrategyFunc makes a function a Strategy.
type StrategyFunc func(t Record, workers []WorkerInfo) (string, bool)

// Pick calls f.
func (f StrategyFunc) Pick(t Record, workers []WorkerInfo) (string, bool) { return f(t, workers) }

// LeastLoaded gives a task to the eligible worker with the lowest share of
// its capacity in use, the lower id on a tie: the default.
var LeastLoaded Strategy = StrategyFunc(leastLoaded)

func leastLoaded(t Record, workers []WorkerInfo) (string, bool) {
	best := -1
	for i, w := range workers {
		if !eligible(t, w) {
			continue
		}
		// w.Load/w.Capacity < b.Load/b.Capacity, without division.
		if b := best; b < 0 || w.Load*workers[b].Capacity < workers[b].Load*w.Capacity {
			best = i
		}
	}
	if best < 0 {
		return "", false
	}
	return workers[best].ID, true
}

// eligible reports whether w may be given t: it has room and t's labels.
func eligible(t Record, w WorkerInfo) bool {
	return w.Load < w.Capacity && w.Matches(t.Labels)
}
