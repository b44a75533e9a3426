// Package health is zkctl health: every member of the cluster asked for
// its state, judged against thresholds, once or every interval.
package health
