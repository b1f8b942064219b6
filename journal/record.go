package journal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"
)

// Layout of a version 1 record; see the package documentation.
const (
	offVersion = 0
	offSeq     = 1
	offTime    = 9
	offURLLen  = 17
	offURL     = 19

	crcLen = 4
	// minRecordLen is a record with an empty type URL and an empty payload.
	minRecordLen = offURL + 4 + crcLen
	// maxTypeURLLen is the longest type URL the format can hold.
	maxTypeURLLen = 1<<16 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rawRecord is a record as stored: the event is still encoded.
type rawRecord struct {
	version uint8
	seq     uint64
	nanos   int64 // Unix nanoseconds
	typeURL string
	payload []byte
}

// encodeRecord returns the stored form of r. The caller has checked that the
// type URL and the payload fit the format (encodeEvent does).
func encodeRecord(r rawRecord) []byte {
	n := minRecordLen + len(r.typeURL) + len(r.payload)
	b := make([]byte, n)
	b[offVersion] = r.version
	binary.BigEndian.PutUint64(b[offSeq:], r.seq)
	binary.BigEndian.PutUint64(b[offTime:], uint64(r.nanos))
	binary.BigEndian.PutUint16(b[offURLLen:], uint16(len(r.typeURL)))
	i := offURL + copy(b[offURL:], r.typeURL)
	binary.BigEndian.PutUint32(b[i:], uint32(len(r.payload)))
	i += 4
	i += copy(b[i:], r.payload)
	binary.BigEndian.PutUint32(b[i:], crc32.Checksum(b[:i], castagnoli))
	return b
}

// decodeRecord parses a stored record. It never panics. Errors wrap
// ErrCorrupt, or ErrNewerFormat for an intact record of a later format. The
// payload of the result aliases b.
//
// The checksum is verified before anything else, the version second: every
// format version starts with its version byte and ends with a CRC-32C of the
// bytes before it, so a damaged version byte is reported as damage, and an
// intact record of a newer version as such.
func decodeRecord(b []byte) (rawRecord, error) {
	if len(b) < 1+crcLen {
		return rawRecord{}, fmt.Errorf("%w: %d bytes, too short for a record", ErrCorrupt, len(b))
	}
	body, sum := b[:len(b)-crcLen], binary.BigEndian.Uint32(b[len(b)-crcLen:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return rawRecord{}, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, sum, got)
	}
	switch v := body[offVersion]; {
	case v == 0:
		return rawRecord{}, fmt.Errorf("%w: format version 0", ErrCorrupt)
	case v > FormatVersion:
		return rawRecord{}, fmt.Errorf("%w: format version %d, this program reads up to %d", ErrNewerFormat, v, FormatVersion)
	}
	if len(b) < minRecordLen {
		return rawRecord{}, fmt.Errorf("%w: %d bytes, too short for a version %d record", ErrCorrupt, len(b), FormatVersion)
	}
	r := rawRecord{
		version: body[offVersion],
		seq:     binary.BigEndian.Uint64(body[offSeq:]),
		nanos:   int64(binary.BigEndian.Uint64(body[offTime:])),
	}
	rest := body[offURL:]
	urlLen := int(binary.BigEndian.Uint16(body[offURLLen:]))
	if urlLen == 0 {
		return rawRecord{}, fmt.Errorf("%w: empty type URL", ErrCorrupt)
	}
	if urlLen+4 > len(rest) {
		return rawRecord{}, fmt.Errorf("%w: type URL of %d bytes overruns the record", ErrCorrupt, urlLen)
	}
	r.typeURL = string(rest[:urlLen])
	rest = rest[urlLen:]
	payloadLen := uint64(binary.BigEndian.Uint32(rest))
	rest = rest[4:]
	if payloadLen != uint64(len(rest)) {
		return rawRecord{}, fmt.Errorf("%w: payload length %d, but %d bytes remain", ErrCorrupt, payloadLen, len(rest))
	}
	r.payload = rest
	return r, nil
}

// storedKey is the bucket key of seq: 8 bytes, big-endian, so that keys sort
// in sequence order.
func storedKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// decodeStored turns the stored bytes of container's record seq into a
// Record. Damage is reported as a *CorruptError; a type this program never
// registered as an error wrapping ErrUnknownType.
func decodeStored(container string, seq uint64, b []byte) (Record, error) {
	r, err := decodeRecord(b)
	if err != nil {
		return Record{}, &CorruptError{Container: container, Seq: seq, Err: err}
	}
	if r.seq != seq {
		return Record{}, &CorruptError{Container: container, Seq: seq,
			Err: fmt.Errorf("%w: stored under seq %d but carries seq %d", ErrCorrupt, seq, r.seq)}
	}
	ev, err := decodeEvent(r.typeURL, r.payload)
	if err != nil {
		if isUnknownType(err) {
			return Record{}, fmt.Errorf("journal: replay container %q at seq %d: %w", container, seq, err)
		}
		return Record{}, &CorruptError{Container: container, Seq: seq, Err: err}
	}
	return Record{
		Version:   r.version,
		Container: container,
		Seq:       r.seq,
		Time:      time.Unix(0, r.nanos),
		Event:     ev,
	}, nil
}

// checkContainer validates a container name.
func checkContainer(container string) error {
	switch {
	case container == "":
		return fmt.Errorf("%w: empty", ErrInvalidContainer)
	case len(container) > MaxContainerLen:
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidContainer, len(container), MaxContainerLen)
	}
	return nil
}

// encodedEvent is an event ready to be stored: its type URL and payload.
type encodedEvent struct {
	typeURL string
	payload []byte
}

// encodeEvents encodes the events of one append. Errors name the event.
func encodeEvents(events []any) ([]encodedEvent, error) {
	out := make([]encodedEvent, len(events))
	for i, ev := range events {
		url, payload, err := encodeEvent(ev)
		if err != nil {
			return nil, fmt.Errorf("event %d (%T): %w", i, ev, err)
		}
		out[i] = encodedEvent{typeURL: url, payload: payload}
	}
	return out, nil
}

// buildRecords encodes the records for events, numbered from first and
// stamped with nanos. It returns the stored forms and the Records to hand
// back to the caller.
func buildRecords(container string, first uint64, nanos int64, events []any, enc []encodedEvent) ([][]byte, []Record) {
	stored := make([][]byte, len(enc))
	recs := make([]Record, len(enc))
	t := time.Unix(0, nanos)
	for i, e := range enc {
		seq := first + uint64(i)
		stored[i] = encodeRecord(rawRecord{
			version: FormatVersion,
			seq:     seq,
			nanos:   nanos,
			typeURL: e.typeURL,
			payload: e.payload,
		})
		recs[i] = Record{Version: FormatVersion, Container: container, Seq: seq, Time: t, Event: events[i]}
	}
	return stored, recs
}

// retiredURL is the type URL of a retirement mark: a record of the layout
// above, with the retired container's last sequence number, the time of
// retirement and an empty payload. It is outside "vigil.events/", so no
// event type can take it.
const retiredURL = "vigil.journal/retired"

// encodeSnapshot returns the stored form of a snapshot: a record whose
// sequence number is the last one the state covers.
func encodeSnapshot(seq uint64, nanos int64, enc encodedEvent) []byte {
	return encodeRecord(rawRecord{version: FormatVersion, seq: seq, nanos: nanos, typeURL: enc.typeURL, payload: enc.payload})
}

// decodeSnapshot turns the stored snapshot of container into a Snapshot.
// Damage is a *CorruptError (Seq is the covered record when the bytes are
// intact enough to tell it, else 0); a state type this program never
// registered an error wrapping ErrUnknownType.
func decodeSnapshot(container string, b []byte) (Snapshot, error) {
	r, err := decodeRecord(b)
	if err != nil {
		return Snapshot{}, &CorruptError{Container: container, Err: fmt.Errorf("snapshot: %w", err)}
	}
	if r.seq == 0 {
		return Snapshot{}, &CorruptError{Container: container,
			Err: fmt.Errorf("snapshot: %w: covers record 0", ErrCorrupt)}
	}
	st, err := decodeEvent(r.typeURL, r.payload)
	if err != nil {
		if isUnknownType(err) {
			return Snapshot{}, fmt.Errorf("journal: snapshot of container %q at seq %d: %w", container, r.seq, err)
		}
		return Snapshot{}, &CorruptError{Container: container, Seq: r.seq, Err: fmt.Errorf("snapshot: %w", err)}
	}
	return Snapshot{Version: r.version, Container: container, Seq: r.seq, Time: time.Unix(0, r.nanos), State: st}, nil
}

// encodeRetired returns the stored retirement mark of a container whose
// last record is seq, retired at nanos.
func encodeRetired(seq uint64, nanos int64) []byte {
	return encodeRecord(rawRecord{version: FormatVersion, seq: seq, nanos: nanos, typeURL: retiredURL})
}

// decodeRetired parses a retirement mark: the last sequence number and the
// time of retirement. Damage is a *CorruptError.
func decodeRetired(container string, b []byte) (seq uint64, nanos int64, err error) {
	r, err := decodeRecord(b)
	switch {
	case err != nil:
		return 0, 0, &CorruptError{Container: container, Err: fmt.Errorf("retirement mark: %w", err)}
	case r.typeURL != retiredURL || len(r.payload) != 0 || r.seq == 0:
		return 0, 0, &CorruptError{Container: container,
			Err: fmt.Errorf("retirement mark: %w: type %q, seq %d, %d payload bytes", ErrCorrupt, r.typeURL, r.seq, len(r.payload))}
	}
	return r.seq, r.nanos, nil
}
