package stdio

import "github.com/vigilhq/vigil/stdio/capture"

// The writing side of the log (the format's encoding, rotation, the
// logger process) is package capture, which imports little, so that the
// logger can start before the rest of the supervisor binary is
// initialized (see capture.RunLogger). These are its names as stdio has
// always given them.

// Rotation says how big a container's log may grow (capture.Rotation).
type Rotation = capture.Rotation

// DefaultRotation is docker's "local" log driver's default: 5 files of
// 20 MiB, compressed once complete.
var DefaultRotation = capture.DefaultRotation

// RunLogger is the main function of the logging binary; it returns the
// exit code (capture.RunLogger).
func RunLogger(args []string) int { return capture.RunLogger(args) }
