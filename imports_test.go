package vigil_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// goPackage is what the import graph test reads of `go list -json`.
type goPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

// listPackages lists the module's packages with their imports and deps.
func listPackages(t *testing.T) map[string]goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(out)
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	return pkgs
}

const module = "github.com/vigilhq/vigil"

// TestImportGraph asserts the layering that ARCHITECTURE.md describes:
// the binary talks to the facade, the wire types and the client only;
// api and client carry neither the engine nor containerd's client; only
// c8dbridge imports containerd.
func TestImportGraph(t *testing.T) {
	pkgs := listPackages(t)
	cmd, ok := pkgs[module+"/cmd/supervisor"]
	if !ok {
		t.Fatal("go list does not list cmd/supervisor")
	}
	for _, want := range []string{module, module + "/api", module + "/client"} {
		if !slices.Contains(cmd.Imports, want) {
			t.Errorf("cmd/supervisor does not import %s", want)
		}
	}
	for _, imp := range cmd.Imports {
		for _, banned := range []string{"/actors", "/journal", "/c8dbridge"} {
			if imp == module+banned || strings.HasPrefix(imp, module+banned+"/") {
				t.Errorf("cmd/supervisor imports %s: it must go through the facade (package vigil)", imp)
			}
		}
	}

	// The Docker API is a translation over the facade: it reads the
	// lifecycle's event types (the facade's Event carries them), nothing
	// else of the engine's.
	if d, ok := pkgs[module+"/internal/dockerapi"]; !ok {
		t.Error("go list does not list internal/dockerapi")
	} else {
		for _, imp := range d.Imports {
			for _, banned := range []string{"/actors", "/journal", "/c8dbridge", "/internal/engine"} {
				if (imp == module+banned || strings.HasPrefix(imp, module+banned+"/")) && imp != module+"/actors/lifecycle" {
					t.Errorf("internal/dockerapi imports %s: it must go through the facade (package vigil)", imp)
				}
			}
		}
	}

	for path, p := range pkgs {
		if path == module+"/c8dbridge" {
			continue
		}
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			if strings.HasPrefix(imp, "github.com/containerd/containerd/") {
				t.Errorf("%s imports %s: only c8dbridge imports containerd", path, imp)
			}
		}
	}

	for _, light := range []string{"api", "client"} {
		out, err := exec.Command("go", "list", "-deps", module+"/"+light).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", light, err)
		}
		for dep := range strings.FieldsSeq(string(out)) {
			switch {
			case strings.HasPrefix(dep, "github.com/containerd/containerd/"),
				dep == module, dep == module+"/actors", dep == module+"/journal", dep == module+"/c8dbridge":
				t.Errorf("%s depends on %s: a harness that imports it must not pull in the engine or containerd", light, dep)
			}
		}
	}
}
