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
//   - The record format, below, with its checksum and version, and the file
//     format around it.
//   - Snapshots: per container, one opaque state (a value of a registered
//     type, chosen by the caller) covering its records 1 to Seq, so that
//     Recover replays only the records after it.
//   - Retention: the history of a container its caller retired is deleted
//     (compacted away) once the store's Retention allows.
//   - Verify (Bolt): a check of every record, snapshot and mark and of the
//     file's pages that reports every problem rather than stopping.
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
//   - It never deletes a record of a container that was not retired, except
//     behind its snapshots when asked to (Options.CompactLive: the records
//     an intact snapshot covers, which that snapshot then replaces as the
//     container's base), and deletes a retired container's history only as
//     a whole (records, snapshot, base, mark), never a part of it.
//   - It never interprets a snapshot: what goes in, and when, is the
//     caller's; Verify compares one with the replay only through the
//     caller's fold.
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
//  4. At start, list Containers and Recover each one: fold the snapshot's
//     state, if any, then the events after it, into the state. A
//     *CorruptError (errors.Is ErrCorrupt, or ErrNewerFormat for a file
//     written by a newer vigil) must be surfaced, not ignored.
//  5. A snapshot must be exactly the fold of the records it covers, with the
//     same function as replay; Verify checks it with the caller's fold. A
//     failed SaveSnapshot loses nothing (the records are there), so it need
//     not fail the command whose append preceded it.
//  6. Retire a container at its last record once it no longer exists and
//     its history may go; Append to the same name later cancels that.
//  7. Open a journal file from one process at a time; the file lock enforces
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
// A snapshot and a retirement mark are stored in the same layout: a
// snapshot's sequence number is the last record it covers, its type URL and
// payload those of the state; a mark's sequence number is the container's
// last record, its time the time of retirement, its type URL
// "vigil.journal/retired" and its payload empty.
//
// # File format
//
// FileFormat 3, written by this code, has six top-level buckets:
//
//	containers      one nested bucket per container; keys: the 8-byte
//	                big-endian sequence numbers, from 1, without gaps;
//	                values: records
//	snapshots       container -> its newest snapshot
//	bases           container -> its base, the snapshot that replaced its
//	                records 1 to the base's Seq (compacted behind its
//	                snapshots); its records then begin at Seq+1
//	retired         container -> its retirement mark
//	retired-index   8-byte big-endian time of retirement + container -> "",
//	                in the order compaction visits them; its bbolt sequence
//	                counts its keys
//	meta            "format" -> the file format, 4 bytes big-endian;
//	                "identity" -> the journal's identity (Bolt.Identity),
//	                32 hex digits, made with the file and never changed (a
//	                file without one gets one at its next open for writing)
//
// FileFormat 1 (testdata/v1.journal) has the containers bucket only; 2
// (testdata/v2.journal) has no bases. Opened for writing, an older file is
// upgraded to 3 by adding the missing buckets; a file of a format
// above FileFormat is refused by Open with ErrNewerFormat. Open also
// refuses a file shorter than bbolt's pages reach (it reads bbolt's meta
// pages itself first: bbolt would fault on it) or one bbolt cannot read,
// with a *CorruptError that names no container.
//
// # Commits
//
// The next sequence number is the last key plus one, read in the
// transaction that writes it. Appends, snapshots and retirements are queued
// for a single committer goroutine, which takes everything queued at that
// moment (it never waits for more) and writes it in one bbolt transaction,
// so concurrent appends share the cost of the fsyncs while a lone append
// pays for exactly one commit. A request larger than 256 KiB (a slow
// commit) is written in a transaction of its own after the small ones,
// one per round, so that an append waits for at most the commit under way
// and its own. Events are encoded before they are queued, so an
// unregistered or oversized event fails alone. If a group's transaction
// fails, nothing of it is stored and each request in it is retried in a
// transaction of its own, so that one that cannot be written fails without
// failing the others.
//
// # Compaction
//
// With a Retention, the transaction of a Retire (and Open) deletes, oldest
// retirement first and at most 64 at a time, the retired containers beyond
// KeepCount or retired longer than KeepFor ago: their bucket, snapshot, mark
// and index key. A container whose mark no longer matches its last record
// (records were appended since) is not deleted. bbolt reuses the freed
// pages, so under create/remove churn the file stops growing. A container
// being replayed is left for a later compaction.
//
// # Compaction of live containers
//
// With Options.CompactLive, the transaction of each SaveSnapshot that
// replaces an intact older snapshot makes that older snapshot the
// container's base and deletes the records it covers (those after the
// previous base). A container therefore keeps its newest snapshot, its
// base, and the records since the base: at most the records of two
// snapshot intervals, however long it lives. Because snapshot, base and
// deletion are one bbolt transaction, a crash leaves either the old
// snapshot with every record it covers or the new one with the old as the
// base: Recover (the snapshot, then the records after it) and History (the
// base, then every record kept) fold to the same state as a replay of the
// whole history would, and Verify folds from the base. Replay visits the
// records kept. A snapshot saved while its container is being replayed
// compacts nothing (the next one does), so a reader never finds the
// records it is reading gone; a compaction between two chunks of a long
// replay that began just before it moves the reader on to the first
// record kept.
package journal
