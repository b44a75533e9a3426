// Package countercmd is zkctl counter and zkctl id: read and change a
// shared counter of recipes/counter in one of the codecs Curator and kazoo
// write (printing the value before and after), and hand out
// cluster-unique, increasing 64-bit IDs (counter.IDs).
package countercmd
