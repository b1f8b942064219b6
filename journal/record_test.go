package journal

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"math"
	"reflect"
	"strings"
	"testing"
)

// withCRC appends the CRC-32C trailer to body, as the format prescribes.
func withCRC(body []byte) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
}

// TestRecordLayout pins the byte layout documented in doc.go.
func TestRecordLayout(t *testing.T) {
	got := encodeRecord(rawRecord{
		version: 1,
		seq:     0x0102030405060708,
		nanos:   -2,
		typeURL: "u/v",
		payload: []byte(`{}`),
	})
	body := "01" + // version
		"0102030405060708" + // seq
		"fffffffffffffffe" + // time
		"0003" + hex.EncodeToString([]byte("u/v")) + // type URL
		"00000002" + hex.EncodeToString([]byte("{}")) // payload
	b, _ := hex.DecodeString(body)
	if want := withCRC(b); !bytes.Equal(got, want) {
		t.Errorf("encodeRecord =\n%x\nwant\n%x", got, want)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range []rawRecord{
		{version: 1, seq: 1, nanos: 0, typeURL: "x", payload: nil},
		{version: 1, seq: math.MaxUint64, nanos: math.MinInt64, typeURL: strings.Repeat("u", maxTypeURLLen), payload: []byte(`{"a":1}`)},
		{version: 1, seq: 42, nanos: math.MaxInt64, typeURL: "vigil.events/a", payload: bytes.Repeat([]byte{0, 0xff}, 5000)},
	} {
		b := encodeRecord(r)
		got, err := decodeRecord(b)
		if err != nil {
			t.Fatalf("decode(encode(%d-byte URL, seq %d)): %v", len(r.typeURL), r.seq, err)
		}
		if got.version != r.version || got.seq != r.seq || got.nanos != r.nanos || got.typeURL != r.typeURL || !bytes.Equal(got.payload, r.payload) {
			t.Errorf("round trip changed the record: got %+v, want %+v", got, r)
		}
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	valid := encodeRecord(rawRecord{version: 1, seq: 7, nanos: 99, typeURL: "vigil.events/x", payload: []byte(`{"n":1}`)})
	body := valid[:len(valid)-crcLen]
	flip := func(i int) []byte {
		b := append([]byte(nil), valid...)
		b[i] ^= 0x10
		return b
	}
	// patch changes body bytes at i and recomputes the checksum, so that
	// the parser behind the checksum is reached.
	patch := func(i int, with ...byte) []byte {
		b := append([]byte(nil), body...)
		copy(b[i:], with)
		return withCRC(b)
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"nil", nil, ErrCorrupt},
		{"one byte", []byte{1}, ErrCorrupt},
		{"crc only", withCRC(nil), ErrCorrupt},
		{"flipped version", flip(0), ErrCorrupt},
		{"flipped seq", flip(3), ErrCorrupt},
		{"flipped payload", flip(len(valid) - 6), ErrCorrupt},
		{"flipped checksum", flip(len(valid) - 1), ErrCorrupt},
		{"truncated", valid[:len(valid)-1], ErrCorrupt},
		{"extended", append(append([]byte(nil), valid...), 0), ErrCorrupt},
		{"version 0", patch(0, 0), ErrCorrupt},
		{"version 2", patch(0, 2), ErrNewerFormat},
		{"version 255, short", withCRC([]byte{255}), ErrNewerFormat},
		{"version 1, short", withCRC([]byte{1, 2, 3}), ErrCorrupt},
		{"empty type URL", patch(offURLLen, 0, 0), ErrCorrupt},
		{"type URL overruns", patch(offURLLen, 0xff, 0xff), ErrCorrupt},
		{"payload length too long", patch(offURL+len("vigil.events/x"), 0, 0, 0, 8), ErrCorrupt},
		{"payload length too short", patch(offURL+len("vigil.events/x"), 0, 0, 0, 6), ErrCorrupt},
		{"payload length huge", patch(offURL+len("vigil.events/x"), 0xff, 0xff, 0xff, 0xff), ErrCorrupt},
	}
	for _, tc := range tests {
		_, err := decodeRecord(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		if tc.want == ErrNewerFormat && errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: a newer record is reported as corrupt: %v", tc.name, err)
		}
	}
	if _, err := decodeRecord(valid); err != nil {
		t.Fatalf("valid record: %v", err)
	}
}

// FuzzDecode checks that no input makes the decoders of records, snapshots
// and retirement marks panic, that whatever the record decoder accepts is
// encoded back to the same bytes, and that the parser behind the checksum
// holds too (the fuzzer rarely guesses a checksum, so each input is also
// tried with a correct one). A snapshot or mark the decoders accept must
// encode back to the same bytes as well.
func FuzzDecode(f *testing.F) {
	Register(fuzzState{}, "journal.test.fuzzState")
	f.Add([]byte{})
	f.Add(encodeRecord(rawRecord{version: 1, seq: 1, nanos: 1, typeURL: "vigil.events/x", payload: []byte(`{"a":"b"}`)}))
	f.Add(encodeRecord(rawRecord{version: 1, seq: math.MaxUint64, nanos: -1, typeURL: "u"}))
	f.Add(encodeRecord(rawRecord{version: 2, seq: 3, nanos: 4, typeURL: "u", payload: []byte{0}}))
	f.Add(encodeSnapshot(7, 8, encodedEvent{typeURL: "vigil.events/journal.test.fuzzState", payload: []byte(`{"N":3,"S":"x"}`)}))
	f.Add(encodeRetired(9, 10))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, withCRC(data)} {
			checkDecodeError := func(what string, err error) {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNewerFormat) && !errors.Is(err, ErrUnknownType) {
					t.Fatalf("%s: decode error %v wraps none of ErrCorrupt, ErrNewerFormat, ErrUnknownType", what, err)
				}
			}
			if s, err := decodeSnapshot("c", in); err != nil {
				checkDecodeError("snapshot", err)
			} else {
				url, payload, err := encodeEvent(s.State)
				if err != nil {
					t.Fatalf("a decoded snapshot state does not encode: %v", err)
				}
				// JSON may be written differently; what it decodes to must
				// encode the same.
				again, err := decodeSnapshot("c", encodeSnapshot(s.Seq, s.Time.UnixNano(), encodedEvent{url, payload}))
				if err != nil || !reflect.DeepEqual(again, s) {
					t.Fatalf("snapshot %+v encoded and decoded again is %+v, %v", s, again, err)
				}
			}
			if seq, nanos, err := decodeRetired("c", in); err != nil {
				checkDecodeError("retirement mark", err)
			} else if out := encodeRetired(seq, nanos); !bytes.Equal(out, in) {
				t.Fatalf("retirement mark decoded then encoded changed:\n in %x\nout %x", in, out)
			}
			r, err := decodeRecord(in)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNewerFormat) {
					t.Fatalf("decode error %v wraps neither ErrCorrupt nor ErrNewerFormat", err)
				}
				continue
			}
			if r.version == 0 || r.version > FormatVersion || r.typeURL == "" {
				t.Fatalf("decode accepted an invalid record: %+v", r)
			}
			if out := encodeRecord(r); !bytes.Equal(out, in) {
				t.Fatalf("decode then encode changed the bytes:\n in %x\nout %x", in, out)
			}
		}
	})
}

// fuzzState is a snapshot state for FuzzDecode.
type fuzzState struct {
	N int
	S string
}

func TestDecodeStored(t *testing.T) {
	type ev struct{ N int }
	Register(ev{}, "journal.test.decodeStored")
	url, payload, err := encodeEvent(ev{N: 5})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(seq uint64, url string, payload []byte) []byte {
		return encodeRecord(rawRecord{version: 1, seq: seq, nanos: 1e18, typeURL: url, payload: payload})
	}

	got, err := decodeStored("c", 3, rec(3, url, payload))
	if err != nil {
		t.Fatal(err)
	}
	if got.Event != (ev{N: 5}) || got.Seq != 3 || got.Container != "c" || got.Time.UnixNano() != 1e18 || got.Version != 1 {
		t.Errorf("decodeStored = %+v", got)
	}

	tests := []struct {
		name    string
		in      []byte
		corrupt bool
		want    error
	}{
		{"seq differs from key", rec(4, url, payload), true, ErrCorrupt},
		{"bad JSON", rec(3, url, []byte(`{"N":`)), true, ErrCorrupt},
		{"JSON of another shape", rec(3, url, []byte(`{"N":"five"}`)), true, ErrCorrupt},
		{"unregistered URL", rec(3, "vigil.events/nobody", payload), false, ErrUnknownType},
		{"damaged", rec(3, url, payload)[1:], true, ErrCorrupt},
	}
	for _, tc := range tests {
		_, err := decodeStored("c", 3, tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		var ce *CorruptError
		if errors.As(err, &ce) != tc.corrupt {
			t.Errorf("%s: error %v: is a *CorruptError: %v, want %v", tc.name, err, !tc.corrupt, tc.corrupt)
		}
		if ce != nil && (ce.Container != "c" || ce.Seq != 3) {
			t.Errorf("%s: CorruptError names (%q, %d), want (\"c\", 3)", tc.name, ce.Container, ce.Seq)
		}
	}
}
