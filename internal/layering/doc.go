// Package layering holds the test that keeps imports pointing down:
// backend imports only the standard library; each backend imports backend
// and not the other backend; recipes import backend and internal packages,
// never a concrete backend nor another recipe, except the edges
// recipeImports lists (recipes/task on recipes/election and recipes/cache,
// recipes/partition, recipes/registry and recipes/config on recipes/cache, recipes/counter on recipes/lock); zkctl's command groups (cmd/zkctl/internal/...) import
// its core and not each other, and only its app lists them.
package layering
