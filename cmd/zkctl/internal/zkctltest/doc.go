// Package zkctltest runs zkctl for the tests of its command groups: in
// process with buffers (Run, Start), or as a process of its own (the test
// binary run again as zkctl: StartProcess, OnPath; the package's TestMain
// must be Main), against the real servers internal/testenv finds
// (Clusters, Observer), with trees to work on (Build).
package zkctltest
