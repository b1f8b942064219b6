// Command supervisor is vigil's one binary: the daemon that supervises
// containers, the command-line client that talks to it, and the logger that
// containerd's shim runs to capture a container's output.
//
//	supervisor [global flags] daemon [--socket-mode MODE] [--metrics-addr HOST:PORT]
//	supervisor [global flags] run [-d] [--name ID] [--pull POLICY] [-e K=V]... [-w DIR] [-l K=V]... IMAGE [CMD [ARG...]]
//	supervisor [global flags] run [-d] [--name ID] --rootfs DIR [-e K=V]... [-w DIR] [-l K=V]... -- CMD [ARG...]
//	supervisor [global flags] image load|pull|ls|inspect|rm|prune|tag [flags] [arguments]
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
//   - The HTTP API (api.go): routing, the decoding of request bodies and
//     parameters (a container's configuration is the supervisor's to
//     check, once, when its actor admits the create), and the conversion of the facade's answers into package api's types; the
//     status and code of an error answer are package api's one mapping of
//     error classes (codeOf adds the exec codes).
//   - The command line's side of the API: it talks to the daemon through
//     package client and branches on error classes and codes, never on
//     message text.
//   - The daemon's life (daemon.go): claiming the socket, serving, and a
//     shutdown on SIGTERM or SIGINT that leaves the containers running;
//     systemd's notify protocol and watchdog (systemd.go); /metrics on the
//     socket and on --metrics-addr (metrics.go).
//
// # What it never does
//
//   - It never talks to containerd or the journal itself, nor to the actors:
//     the daemon goes through package vigil (the facade), the journal
//     commands through vigil's journal file reader (which replays with the
//     lifecycle's own Apply), and the client through package client. It
//     imports neither actors, journal nor c8dbridge (TestImportGraph).
//   - It never removes a socket file that someone answers on, nor a file
//     that is not a socket.
//   - It does no start-up work before vigil.RunLoggerIfInvoked, which
//     routes "supervisor logger ..." to stdio.RunLogger: the shim runs this
//     binary as a container's logger, and that must not read flags, config
//     files or the environment.
package main
