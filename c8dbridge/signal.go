package c8dbridge

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// maxSignal is the highest signal number on Linux (SIGRTMAX).
const maxSignal = 64

// ParseSignal parses a signal given by name or number: "SIGTERM", "TERM",
// "term" and "15" all give syscall.SIGTERM. An unknown name or a number out
// of range gives an InvalidArgument-class error.
func ParseSignal(s string) (syscall.Signal, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if name == "" {
		return 0, fmt.Errorf("c8dbridge: parse signal: %w: empty", errdefs.ErrInvalidArgument)
	}
	if n, err := strconv.Atoi(name); err == nil {
		if n < 1 || n > maxSignal {
			return 0, fmt.Errorf("c8dbridge: parse signal %q: %w: number out of range 1-%d", s, errdefs.ErrInvalidArgument, maxSignal)
		}
		return syscall.Signal(n), nil
	}
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("c8dbridge: parse signal %q: %w: unknown signal name (use e.g. TERM, SIGKILL or 9)", s, errdefs.ErrInvalidArgument)
}
