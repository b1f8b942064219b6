package stdio

import "github.com/vigilhq/vigil/stdio/capture"

// The tests of the writing side were written against stdio's own names
// before it moved to package capture; these keep them.
type logWriter = capture.Writer

var (
	openLogWriter  = capture.OpenWriter
	newSink        = capture.NewSink
	copyStream     = capture.CopyStream
	kindOf         = capture.KindOf
	cutPoint       = capture.CutPoint
	appendEscaped  = capture.AppendEscaped
	parseLoggerArg = capture.ParseLoggerArg
)

const readSize = capture.ReadSize

// exitUsage is the logger's status when it could not start (capture's).
const exitUsage = 2

// fdStdout is the fd of the container's stdout the shim gives the logger.
const fdStdout = 3
