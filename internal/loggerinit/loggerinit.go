// Package loggerinit runs the logging binary (capture.RunLogger) from a
// package initializer, before the packages it does not need are
// initialized.
//
// containerd's shim runs the supervisor binary once per detached container
// as that container's logger (see package stdio), and the process lives as
// long as the container. Go initializes every package linked into a
// binary before main: for the supervisor that is containerd's client,
// gRPC, protobuf's registries, the actors and the metrics, a few MiB of
// heap and of touched binary that a logger never uses. Go initializes a
// package as soon as the packages it imports are (in the order of their
// import paths among those ready), and this package imports only stdio
// and the standard library, so its init runs before most of the heavy
// ones, and, when the program was started as the logger, never returns.
//
// Importing it (for its side effect) is all a program does; the supervisor
// binary does. vigil.RunLoggerIfInvoked stays the documented hook for an
// embedding program, which may import this package too for a lean logger.
package loggerinit

import (
	"os"
	"strings"
	"syscall"

	"github.com/vigilhq/vigil/stdio/capture"
)

func init() {
	if len(os.Args) < 2 || os.Args[1] != capture.LoggerCommand {
		return
	}
	if os.Getenv("GOMAXPROCS") != "1" {
		// The runtime sizes itself for GOMAXPROCS when it starts: with a P
		// per CPU, each has its caches of memory, which stay touched after
		// GOMAXPROCS is lowered (400 KiB more on 2 CPUs, more on more).
		// The environment is the only way to set it before the start, so
		// the logger executes itself again once, with GOMAXPROCS=1; the
		// shim's pipes (fds 3 to 5) stay open across the exec. Should the
		// exec fail, the logger runs as it is.
		env := []string{"GOMAXPROCS=1"}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GOMAXPROCS=") {
				env = append(env, kv)
			}
		}
		// The executable's path, not /proc/self/exe, so that the process
		// keeps its name (ps, top). A binary replaced since the shim
		// started it has no path any more: then the exec fails.
		if exe, err := os.Executable(); err == nil {
			_ = syscall.Exec(exe, os.Args, env)
		}
	}
	os.Exit(capture.RunLogger(os.Args[2:]))
}
