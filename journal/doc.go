// Package journal is vigil's write-ahead log: for every container, the
// sequence of events that changed it, each stored durably before the change
// is acknowledged, and replayed after a crash.
//
// # What it owns
//
//   - The Store contract (journal.go) and its two stores: Bolt, a bbolt file
//     with group commit, and Memory, for tests and for running without state.
//   - The event type registry: Register maps a Go struct type to the type URL
//     "vigil.events/<name>" (through containerd's typeurl); events are stored
//     as JSON under that URL and replayed as values of the same type.
//   - The record format, below, with its checksum and version.
//
// # What it never does
//
//   - It never interprets events: it knows nothing of the container
//     lifecycle, containerd or actors, and decides nothing.
//   - It never skips, repairs or rewrites a damaged record: Replay stops at
//     the first one with a *CorruptError naming the container and sequence
//     number, and leaves the decision to the caller.
//   - It never acknowledges an append before it is durable, and never stores
//     part of an append: an Append either stores all its events or none.
//   - It never deletes records (there is no compaction yet).
//
// # The caller's obligations
//
//  1. Register every event type once, during package initialization, before
//     any Append or Replay. A type's name is part of the file format: never
//     rename or reuse one.
//  2. Append the events of a command before applying them, performing their
//     effects or replying. Only a nil error means the events are stored (and
//     fsync'd, for Bolt). An error means nothing was stored: the command has
//     failed and its events must not be applied.
//  3. Order matters within a container: appends for one container from
//     several goroutines are stored in the order the store receives them, so
//     issue them from one goroutine (the container's actor).
//  4. At start, list Containers and Replay each one, folding its events into
//     the state. A *CorruptError (errors.Is ErrCorrupt, or ErrNewerFormat for
//     a file written by a newer vigil) must be surfaced, not ignored.
//  5. Open a journal file from one process at a time; the file lock enforces
//     it, and Open fails with ErrInUse. Close the store on shutdown.
//
// # Record format
//
// A record is the value stored under its sequence number. Version 1 is, with
// all integers big-endian:
//
//	offset   size  field
//	0        1     format version (1)
//	1        8     sequence number, uint64
//	9        8     time, int64 Unix nanoseconds (the store's clock)
//	17       2     n, length of the type URL, uint16, at least 1
//	19       n     type URL, e.g. "vigil.events/lifecycle.TaskExited"
//	19+n     4     m, length of the payload, uint32
//	23+n     m     payload: the event as encoded by typeurl (JSON)
//	23+n+m   4     CRC-32C (Castagnoli) of bytes [0, 23+n+m)
//
// Every format version keeps the first byte (the version) and the last four
// (a CRC-32C of everything before them). A reader therefore checks the
// checksum first, so that a damaged record, damaged version byte included,
// is reported as ErrCorrupt, and an intact record whose version is greater
// than FormatVersion as ErrNewerFormat. A record whose sequence number
// differs from its key, a missing sequence number, and a payload that does
// not decode into its registered type are ErrCorrupt as well. A record whose
// type URL is not registered in this program is not damage: Replay stops
// with an error wrapping ErrUnknownType.
//
// # Bolt layout and commits
//
// The file holds one top-level bucket, "containers", with a nested bucket per
// container; its keys are the 8-byte big-endian sequence numbers, starting at
// 1, and the next number is the last key plus one, read in the transaction
// that writes it. Appends are queued for a single committer goroutine, which
// takes everything queued at that moment (it never waits for more) and
// writes it in one bbolt transaction, so concurrent appends share the cost
// of the fsyncs while a lone append pays for exactly one commit. Events are
// encoded before they are queued, so an unregistered or oversized event
// fails alone. If a group's transaction fails, nothing of it is stored and
// each append in it is retried in a transaction of its own, so that one
// append that cannot be written fails without failing the others.
package journal
