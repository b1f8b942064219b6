package vigil

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestOpenNamesTheLoggerHook: a program that leaves Config.LoggerBinary
// empty without calling RunLoggerIfInvoked is refused at Open, with an
// error that names the call. (Not parallel: it flips the package's flag.)
func TestOpenNamesTheLoggerHook(t *testing.T) {
	was := loggerHooked.Load()
	loggerHooked.Store(false)
	defer loggerHooked.Store(was)
	_, err := Open(context.Background(), Config{ContainerdAddress: "/nonexistent/containerd.sock", StateDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "vigil.RunLoggerIfInvoked()") || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Open without the logger hook: %v; want an InvalidArgument error that names RunLoggerIfInvoked", err)
	}
	// With the binary set, the hook is not needed.
	s, err := Open(context.Background(), Config{ContainerdAddress: "/nonexistent/containerd.sock", StateDir: t.TempDir(),
		LoggerBinary: "/bin/true"})
	if err != nil {
		t.Fatalf("Open with Config.LoggerBinary set: %v", err)
	}
	s.Close()
}
