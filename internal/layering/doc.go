// Package layering holds the test that keeps imports pointing down:
// backend imports only the standard library; each backend imports backend
// and not the other backend; recipes import backend and internal packages,
// never a concrete backend nor another recipe.
package layering
