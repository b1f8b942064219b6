// Command supervisor is vigil's one binary: the daemon that supervises
// containers, the command-line client that talks to it, and the logger that
// containerd's shim runs to capture a container's output.
//
//	supervisor [global flags] daemon [--socket-mode MODE]
//	supervisor [global flags] run [-d] [--name ID] --rootfs DIR [-e K=V]... [-w DIR] [-l K=V]... -- CMD [ARG...]
//	supervisor [global flags] ps [-a] [--json]
//	supervisor help [COMMAND]
//
// `supervisor help` lists every command; docs/API.md describes the HTTP API
// that the daemon serves on its unix socket and the client uses.
//
// # What it owns
//
//   - The command line: global settings (flag > environment > config file >
//     default, see config.go), one flag set per command, exit codes (0 done,
//     1 failed, 2 usage error; `run` exits with the container's code).
//   - The HTTP API (api.go): routing, request validation, the mapping of the
//     supervisor's error classes to HTTP statuses, and the JSON it answers.
//   - The daemon's life (daemon.go): claiming the socket, serving, and a
//     shutdown on SIGTERM or SIGINT that leaves the containers running.
//
// # What it never does
//
//   - It never talks to containerd or the journal itself: the daemon goes
//     through package vigil, the client through the daemon's socket.
//   - It never removes a socket file that someone answers on, nor a file
//     that is not a socket.
//   - It does no start-up work before routing "supervisor logger ..." to
//     stdio.RunLogger: the shim runs this binary as a container's logger,
//     and that must not read flags, config files or the environment.
package main
