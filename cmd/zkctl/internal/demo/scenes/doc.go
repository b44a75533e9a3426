// Package scenes holds the scenes of zkctl demo, one file each: what an
// app, an operator, workers or nodes do with a recipe, against the
// cluster, narrated through demo.Stage.
package scenes
