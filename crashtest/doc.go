// Package crashtest is vigil's crash harness: it builds the supervisor with
// its gofail failpoints enabled (in a copy of the source tree, never in the
// working tree), drives a randomized workload through the real CLI and
// daemon against a containerd of its own, kills the daemon with SIGKILL at
// random moments and at failpoints, restarts containerd and kills shims,
// and after each crash checks the invariants of Check against the
// journal, the daemon and containerd.
//
// The harness is a test behind the build tag crashtest (make crashtest,
// docs/RELIABILITY.md); Check itself, which takes plain data, is tested
// without it.
package crashtest
