// Package failpoint holds what the gofail failpoints of vigil's packages do
// when the crash harness (crashtest/) enables them: end the process at once,
// as kill -9 would. In normal builds the failpoints are comments and nothing
// calls this package.
package failpoint

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// Crash prints which failpoint fired and sends SIGKILL to its own process.
// A panic would not do: protoactor-go recovers an actor's panics and goes
// on.
func Crash(name string) {
	fmt.Fprintf(os.Stderr, "failpoint %s: killing the process\n", name)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	time.Sleep(time.Minute) // not reached: SIGKILL is delivered first
}
