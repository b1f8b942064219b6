package lifecycle

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// The kernel's limits on what execve(2) takes: one string of the arguments
// or environment (MAX_ARG_STRLEN), and all of them together (a quarter of
// the default 8 MiB stack limit, counting each string's terminating NUL
// and its pointer).
const (
	MaxArgStrlen = 128 << 10
	MaxArgBytes  = 2 << 20
)

// ValidateProcess checks the args, working directory and environment of a
// process, a container's or an exec's, against what execve can take: a
// program, no NUL byte anywhere (a C string ends there), every environment
// entry KEY=VALUE with a KEY, and sizes within the kernel's limits. Its
// error has no class: callers give it theirs.
func ValidateProcess(args []string, cwd string, env []string) error {
	switch {
	case len(args) == 0 || args[0] == "":
		return errors.New("no program to run: Args is empty")
	case cwd != "" && !filepath.IsAbs(cwd):
		return fmt.Errorf("working directory %q is not an absolute path", cwd)
	case strings.IndexByte(cwd, 0) >= 0:
		return fmt.Errorf("working directory %q holds a NUL byte", cwd)
	}
	total := 0
	check := func(what string, i int, s string) error {
		switch {
		case strings.IndexByte(s, 0) >= 0:
			return fmt.Errorf("%s %d holds a NUL byte, which would cut it short", what, i)
		case len(s)+1 > MaxArgStrlen:
			return fmt.Errorf("%s %d is %d bytes long; the kernel takes at most %d", what, i, len(s), MaxArgStrlen-1)
		}
		total += len(s) + 1 + 8
		return nil
	}
	for i, a := range args {
		if err := check("argument", i, a); err != nil {
			return err
		}
	}
	for i, kv := range env {
		if err := check("environment entry", i, kv); err != nil {
			return err
		}
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("environment entry %q is not KEY=VALUE", truncate(kv))
		}
	}
	if total > MaxArgBytes {
		return fmt.Errorf("the arguments and environment take %d bytes; the kernel takes at most %d", total, MaxArgBytes)
	}
	return nil
}
