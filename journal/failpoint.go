package journal

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// failpointCrash ends the process at once, as kill -9 would. The gofail
// failpoints of this package (comments in normal builds; the crash harness,
// crashtest/, builds a copy with them enabled) call it: a panic would not
// do, as protoactor-go recovers an actor's panics and goes on.
func failpointCrash(name string) {
	fmt.Fprintf(os.Stderr, "failpoint %s: killing the process\n", name)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Minute) // not reached: SIGKILL is delivered first
}
