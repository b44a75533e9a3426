//go:build race

package partition

// raceEnabled: the race detector slows the test process several times.
const raceEnabled = true
