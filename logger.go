package vigil

import (
	"os"
	"sync/atomic"

	"github.com/vigilhq/vigil/stdio"
)

// loggerHooked is set by RunLoggerIfInvoked: this program routes the
// shim's logger invocation to package stdio.
var loggerHooked atomic.Bool

// RunLoggerIfInvoked makes this program the logging binary of its
// containers. containerd's shim captures a container's output by running
// Config.LoggerBinary, this very executable unless set, with
// stdio.LoggerCommand as its first argument: then RunLoggerIfInvoked runs
// the logger (stdio.RunLogger) and exits. Otherwise it returns at once.
//
// Call it first thing in main, before flags are parsed or anything else
// starts (as reexec hooks are called):
//
//	func main() {
//		vigil.RunLoggerIfInvoked()
//		...
//	}
//
// Open refuses to start with an empty Config.LoggerBinary in a program
// that has not called it.
func RunLoggerIfInvoked() {
	loggerHooked.Store(true)
	if len(os.Args) > 1 && os.Args[1] == stdio.LoggerCommand {
		os.Exit(stdio.RunLogger(os.Args[2:]))
	}
}
