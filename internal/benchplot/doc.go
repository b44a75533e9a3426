// Command benchplot turns the output of the lock and election benchmarks
// (recipes/lock BenchmarkMutexContended, recipes/election
// BenchmarkHandover) into the Markdown tables of docs/benchmarks.md and a
// PNG of lock cycles per second against the number of contenders.
//
//	go run ./internal/benchplot [-png FILE] BENCH-OUTPUT...
//
// It reads `go test -bench` output (any other lines are skipped), groups
// the results by benchmark, server, n and implementation across the
// round=R level of their names, and takes the median of each metric over
// the rounds (the PNG's bars are the smallest and largest round). The
// tables, one per server, go to stdout; each non-ours row has ours' value
// divided by its own. Allocations are shown only for implementations that
// run in the benchmark's process: the Curator and kazoo peers' are not
// counted.
//
// The PNG is drawn by gnuplot (Debian: apt-get install gnuplot-nox), which
// must be on PATH when -png is given.
package main
