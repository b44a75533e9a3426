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
				if own && strings.HasPrefix(irel, "recipes/") && !strings.HasPrefix(irel, rel) {
					t.Errorf("%s imports %s: recipes do not import each other", rel, irel)
				}
			}
		}
	}
}
