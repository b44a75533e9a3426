package layering

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/zkrecipes/zkrecipes"

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Standard", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImportsPointDown(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		for _, imp := range p.Imports {
			own := strings.HasPrefix(imp, module+"/")
			irel := strings.TrimPrefix(imp, module+"/")
			std := !strings.Contains(strings.Split(imp, "/")[0], ".")
			switch {
			case rel == "backend":
				if !std {
					t.Errorf("backend imports %s: the contract imports only the standard library", imp)
				}
			case rel == "backend/zk" && own && strings.HasPrefix(irel, "backend/etcd"),
				rel == "backend/etcd" && own && strings.HasPrefix(irel, "backend/zk"):
				t.Errorf("%s imports %s: backends do not import each other", rel, irel)
			case strings.HasPrefix(rel, "recipes/"):
				if own && (strings.HasPrefix(irel, "backend/zk") || strings.HasPrefix(irel, "backend/etcd")) {
					t.Errorf("%s imports %s: recipes are written against backend only", rel, irel)
				}
				if own && strings.HasPrefix(irel, "recipes/") && !strings.HasPrefix(irel, rel) && !recipeImports[rel][recipeOf(irel)] {
					t.Errorf("%s imports %s: recipes do not import each other (recipeImports lists the exceptions)", rel, irel)
				}
			}
		}
	}
}

// recipeImports lists, per recipe package, the recipes it may import (by
// their package path, e.g. "recipes/cache"): the exceptions to "recipes do
// not import each other". A task master is elected with recipes/election
// and follows workers and tasks with recipes/cache; a partitioner follows
// its group and owners with recipes/cache, and so does a registry's
// Group its members, and a configuration watcher its keys; a counter promoted to a lock
// (counter.WithPromotion) takes recipes/lock's Mutex. Add an edge here only where a
// recipe is built on another's public API, never a cycle.
var recipeImports = map[string]map[string]bool{
	"recipes/task":      {"recipes/election": true, "recipes/cache": true},
	"recipes/partition": {"recipes/cache": true},
	"recipes/registry":  {"recipes/cache": true},
	"recipes/config":    {"recipes/cache": true},
	"recipes/counter":   {"recipes/lock": true},
}

// recipeOf returns the recipe package a path under recipes/ belongs to:
// "recipes/cache" for "recipes/cache/internal/x".
func recipeOf(rel string) string {
	parts := strings.SplitN(rel, "/", 3)
	if len(parts) < 2 {
		return rel
	}
	return parts[0] + "/" + parts[1]
}

// zkctlCore are zkctl's packages that every command group may import: the
// shared core, the subtree walk, the supervisor of wrapped commands.
var zkctlCore = map[string]bool{
	"cmd/zkctl/internal/zkctl":      true,
	"cmd/zkctl/internal/walk":       true,
	"cmd/zkctl/internal/supervisor": true,
}

// TestZkctlLayout keeps zkctl in the shape of containerd's ctr: only the
// app (cmd/zkctl/internal/app) lists the command groups; a group imports
// the core, never another group (demo/scenes imports demo, the stage it
// plays on); the core imports no group; zkctltest is for tests only; and
// nothing outside cmd/ imports cmd/.
func TestZkctlLayout(t *testing.T) {
	const internal = "cmd/zkctl/internal/"
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module+"/")
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			irel := strings.TrimPrefix(imp, module+"/")
			switch {
			case !strings.HasPrefix(rel, "cmd/") && strings.HasPrefix(irel, "cmd/"):
				t.Errorf("%s imports %s: nothing outside cmd/ imports a command", rel, irel)
			case irel == internal+"zkctltest":
				t.Errorf("%s imports %s: zkctltest is for tests", rel, irel)
			case !strings.HasPrefix(rel, internal) || !strings.HasPrefix(irel, internal):
			case rel == internal+"app", rel == internal+"zkctltest", zkctlCore[irel]:
			case zkctlCore[rel]:
				t.Errorf("%s imports %s: the core imports no command group", rel, irel)
			case rel == internal+"demo/scenes" && irel == internal+"demo":
			default:
				t.Errorf("%s imports %s: a command group imports the core only, never another group or the app", rel, irel)
			}
		}
	}
}
