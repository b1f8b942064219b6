package capture

import (
	"os/exec"
	"strings"
	"testing"
)

// The logger starts before the heavy packages only while this package
// imports nothing but the standard library's early ones (see doc.go).
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	late := []string{"net/url", "net/netip", "path/filepath", "encoding/json", "net"}
	for dep := range strings.Lines(string(out)) {
		dep = strings.TrimSpace(dep)
		first, _, _ := strings.Cut(dep, "/")
		if strings.Contains(first, ".") && !strings.HasPrefix(dep, "github.com/vigilhq/vigil/internal/failpoint") &&
			!strings.HasPrefix(dep, "github.com/vigilhq/vigil/stdio/capture") {
			t.Errorf("imports %s, not of the standard library", dep)
		}
		for _, l := range late {
			if dep == l {
				t.Errorf("imports %s, which Go initializes late", dep)
			}
		}
	}
}
