//go:build crashtest

package crashtest

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// failpointPackages are the packages with gofail markers, relative to the
// module root.
var failpointPackages = []string{"internal/engine", "actors", "journal", "c8dbridge", "stdio/capture"}

// repoRoot is the module root: the parent of this package's directory.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root := filepath.Dir(wd)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("no go.mod above %s: %w", wd, err)
	}
	return root, nil
}

var markerRE = regexp.MustCompile(`^\s*// gofail: var (\w+) `)

// failpoints lists the names of the gofail markers in the source tree.
func failpoints(root string) ([]string, error) {
	var names []string
	for _, pkg := range failpointPackages {
		files, err := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			fh, err := os.Open(f)
			if err != nil {
				return nil, err
			}
			sc := bufio.NewScanner(fh)
			for sc.Scan() {
				if m := markerRE.FindStringSubmatch(sc.Text()); m != nil {
					names = append(names, m[1])
				}
			}
			fh.Close()
		}
	}
	slices.Sort(names)
	return names, nil
}

// buildFailpointBinary copies the module's source into dir (as dir/vigil:
// gofail names the root package after its directory), enables the
// failpoints there and builds the supervisor from the copy. The working
// tree is only read.
func buildFailpointBinary(root, dir string) (string, error) {
	src := filepath.Join(dir, "vigil")
	if err := copyTree(root, src); err != nil {
		return "", fmt.Errorf("copy the source: %w", err)
	}
	run := func(name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	pkgs := make([]string, len(failpointPackages))
	for i, p := range failpointPackages {
		pkgs[i] = "./" + p
	}
	if err := run("go", append([]string{"tool", "gofail", "enable"}, pkgs...)...); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "supervisor")
	if err := run("go", "build", "-o", bin, "./cmd/supervisor"); err != nil {
		return "", err
	}
	return bin, nil
}

// copyTree copies the regular files of the module under root to dst,
// leaving out version control, build output and the test rootfs.
func copyTree(root, dst string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch {
			case rel == ".git", rel == "bin", rel == filepath.Join("testdata", "rootfs"):
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
