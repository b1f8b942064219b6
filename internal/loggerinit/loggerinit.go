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

	"github.com/vigilhq/vigil/stdio/capture"
)

func init() {
	if len(os.Args) > 1 && os.Args[1] == capture.LoggerCommand {
		os.Exit(capture.RunLogger(os.Args[2:]))
	}
}
