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
//   - The log format (format 2, described in format.go): one record per
//     line of the file, each holding every line one read of a pipe brought,
//     with one time and stream, escaped so that it holds no newline; about
//     two bytes on disk per byte of a flood of empty lines, 1.02 per byte of
//     1 KiB lines. Records of stdout and stderr share the file, each written
//     whole by one write call, in the order the logger read them. Format 1
//     (one JSON object per line, the file log.jsonl) is still read.
//   - Rotation (Rotation, rotate.go): the log is the files BASE.1, BASE.2,
//     ... (BASE is LogPath(bundleDir)); the newest is written, a record that
//     would take it past MaxSize starts the next, the oldest beyond
//     MaxFiles are deleted and, with Compress, the complete ones are
//     gzipped (BASE.N.gz). A file is never renamed while it may be read.
//   - The logger process (RunLogger): the protocol with the shim and the
//     copying of both streams into the log.
//   - Reading the log (Read): all of it, its last entries, those between
//     two times, or following it while the container runs, across the
//     files in the order of their numbers. A follower is woken by the
//     kernel (inotify on the log's directory, one watcher per process:
//     watch.go), never by a timer.
//   - The Hub (hub.go) of an interactive container's run: it reads the
//     container's FIFOs into the same log, in the same format and rotation, and to the
//     clients attached at the moment, and writes their input to its stdin.
//     Its owner (the container's actor, package actors) opens it before
//     the task is created.
//
// # The logger and the shim
//
// The shim (containerd-shim-runc-v2) runs "<binary> logger ARG" (ARG holds
// the log's base path and its Rotation, see LoggerArgs) with
// the read end of the stdout pipe as fd 3, that of stderr as fd 4, and the
// write end of a "ready" pipe as fd 5; CONTAINER_ID and CONTAINER_NAMESPACE
// are set in its environment. The shim starts the container only once the
// ready pipe yields a byte or reaches end of file. The logger:
//
//  1. ignores SIGINT, SIGTERM, SIGHUP and SIGPIPE;
//  2. opens (creating if needed) the newest log file for appending;
//  3. writes one byte to fd 5 and closes it: ready;
//  4. copies both pipes into the log until both reach end of file, writing
//     after every read a record of the lines completed so far, rotating as
//     it goes (deleting and compressing old files on a goroutine of its
//     own, so the pipes are never left unread for it);
//  5. syncs the file, finishes the compression under way, and exits, with
//     status 0 when nothing was lost.
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
//   - It never creates the log's directory, truncates a file, or deletes one
//     but the oldest files beyond Rotation.MaxFiles: the log belongs to the
//     container's bundle dir and goes with it.
//   - Read never changes a file, and never delivers a line before its
//     '\n' is written. Its memory does not grow with the log or with
//     ReadOptions.Tail.
//
// # Obligations of the caller
//
//  1. Create the bundle dir before creating the task, and pass an absolute
//     log path. The shim cannot learn that the logger failed to start (it
//     treats end of file on fd 5 as ready); the logger creates a log file
//     before it reports ready, so a log without files after the task was
//     created (HasLog) means the logger failed: kill and delete that task.
//  2. Route the command line "<binary> logger ARG" to RunLogger before
//     any other start-up work (no flags, no config, no journal), and exit
//     with its status.
//  3. When following, close ReadOptions.Done once the task is deleted
//     (the shim has then waited for the logger to exit). If Done is closed
//     as soon as the task has exited, Read still keeps reading until a
//     pass over the file finds nothing new, which catches a logger that is
//     still writing its last lines.
//
// Output is stored as the bytes printed. Splitting a long line never breaks
// a valid UTF-8 character across entries.
package stdio
