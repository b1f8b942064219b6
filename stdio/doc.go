// Package stdio captures the output of detached containers and reads it
// back.
//
// A detached container's stdout and stderr must be drained by something
// that keeps running while the supervisor is down: a pipe or FIFO that
// nobody reads blocks its writer once the kernel's buffer is full (64 KiB
// to 128 KiB), and output not captured is lost. The containerd shim offers exactly that: for
// a binary:// stdio URI it starts a "logging binary" as its own child and
// hands it the read ends of the container's pipes. vigil's own binary is that
// logger; it outlives the supervisor and is ended by the shim.
//
// # What it owns
//
//   - The log format: one JSON object per line (see Entry), in the file
//     LogPath(bundleDir). Records of stdout and stderr share the file, each
//     written whole by one write call, in the order the logger read them.
//   - The logger process (RunLogger): the protocol with the shim and the
//     copying of both streams into the file.
//   - Reading the log (Read): all of it, its last records, or following it
//     while the container runs.
//   - The Hub (hub.go) of an interactive container's run: it reads the
//     container's FIFOs into the same log, in the same format, and to the
//     clients attached at the moment, and writes their input to its stdin.
//     Its owner (the supervisor's engine, one Hub slot per container)
//     opens it before the task is created.
//
// # The logger and the shim
//
// The shim (containerd-shim-runc-v2) runs "<binary> logger <logPath>" with
// the read end of the stdout pipe as fd 3, that of stderr as fd 4, and the
// write end of a "ready" pipe as fd 5; CONTAINER_ID and CONTAINER_NAMESPACE
// are set in its environment. The shim starts the container only once the
// ready pipe yields a byte or reaches end of file. The logger:
//
//  1. ignores SIGINT, SIGTERM, SIGHUP and SIGPIPE;
//  2. opens (creating if needed) the log file for appending;
//  3. writes one byte to fd 5 and closes it: ready;
//  4. copies both pipes into the file until both reach end of file, writing
//     after every read the records of each line completed so far;
//  5. syncs the file and exits, with status 0 when nothing was lost.
//
// The shim keeps its own copies of the pipes' write ends until the task is
// deleted, so the logger runs until then, whether the container is running
// or not. On delete the shim closes the pipes, sends SIGTERM, and kills the
// logger if it has not exited 12 seconds later; the logger ignores the
// SIGTERM and drains what is left in the pipes first.
//
// # What it never does
//
//   - It never imports containerd: the package that builds the stdio URI
//     gets its query from LoggerArgs.
//   - The logger never stops reading while a pipe is open, even when writing
//     the file fails (a full disk): the container would block on its output.
//     Records it cannot write are dropped, counted and reported on stderr,
//     and the exit status says so.
//   - It never creates the log's directory, rotates, truncates or deletes the
//     log: the file belongs to the container's bundle dir and goes with it.
//   - Read never changes the file, and never delivers a line before its
//     '\n' is written.
//
// # Obligations of the caller
//
//  1. Create the bundle dir before creating the task, and pass an absolute
//     log path. The shim cannot learn that the logger failed to start (it
//     treats end of file on fd 5 as ready); the logger creates the log file
//     before it reports ready, so a log file missing after the task was
//     created means the logger failed: kill and delete that task.
//  2. Route the command line "<binary> logger <logPath>" to RunLogger before
//     any other start-up work (no flags, no config, no journal), and exit
//     with its status.
//  3. When following, make ReadOptions.Done report true once the task is
//     deleted (the shim has then waited for the logger to exit). If Done
//     reports true as soon as the task has exited, Read still keeps reading
//     until a pass over the file finds nothing new, which catches a logger
//     that is still writing its last lines.
//
// Output is stored as UTF-8: a byte of output that is not part of a valid
// UTF-8 sequence is stored as U+FFFD. Splitting a long line never breaks a
// valid character across records.
package stdio
