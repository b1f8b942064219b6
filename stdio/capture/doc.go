// Package capture is the writing side of a container's log: the logging
// binary that containerd's shim runs for a detached container
// (RunLogger), the encoding of the log's records (format 2, described in
// format.go), and the rotation and compression of its files (Rotation,
// Writer). Package stdio reads what it writes, and describes the protocol
// with the shim.
//
// It imports only the standard library (and the failpoints of
// internal/failpoint, comments in normal builds), and of that no package
// that Go initializes late (net/url, path/filepath, encoding/json): the
// supervisor binary runs the logger from a package initializer
// (internal/loggerinit) that Go reaches as soon as this package's imports
// are initialized, before containerd's client, gRPC, protobuf and the rest,
// which a logger never uses and which would cost it megabytes for as long
// as its container runs. TestImports keeps it so.
package capture
