package journal

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

type (
	regA      struct{ N int }
	regB      struct{ S string }
	regC      struct{ T time.Time }
	regD      struct{ F float64 } // never registered
	regProto  struct{}
	regString string
)

func (*regProto) ProtoReflect() {}

func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	fn()
}

func TestRegister(t *testing.T) {
	Register(regA{}, "journal.test.regA")
	Register(regA{}, "journal.test.regA") // again: no panic
	Register(regB{}, "journal.test/nested/regB")

	mustPanic(t, "a second name for a type", func() { Register(regA{}, "journal.test.other") })
	mustPanic(t, "a second type for a name", func() { Register(regD{}, "journal.test.regA") })
	mustPanic(t, "a pointer", func() { Register(&regD{}, "journal.test.regD") })
	mustPanic(t, "nil", func() { Register(nil, "journal.test.nil") })
	mustPanic(t, "a non-struct", func() { Register(regString(""), "journal.test.regString") })
	mustPanic(t, "a protobuf message", func() { Register(regProto{}, "journal.test.regProto") })
	for _, name := range []string{"", "a b", "a//b", "/a", "a/", "a/../b", ".", "é", strings.Repeat("n", maxNameLen+1)} {
		mustPanic(t, "name "+name, func() { Register(regD{}, name) })
	}

	// A failed registration leaves nothing behind.
	if _, _, err := encodeEvent(regD{}); !errors.Is(err, ErrUnknownType) {
		t.Errorf("regD after failed registrations: %v, want ErrUnknownType", err)
	}

	url, payload, err := encodeEvent(regB{S: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if url != "vigil.events/journal.test/nested/regB" {
		t.Errorf("type URL %q", url)
	}
	ev, err := decodeEvent(url, payload)
	if err != nil {
		t.Fatal(err)
	}
	if ev != (regB{S: "x"}) {
		t.Errorf("decoded %#v (%T), want the value regB{S: \"x\"}", ev, ev)
	}
}

func TestRegisterConcurrent(t *testing.T) {
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			Register(regC{}, "journal.test.regC")
		}()
	}
	for range 8 {
		<-done
	}
	if _, _, err := encodeEvent(regC{T: time.Unix(1, 0)}); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeEventErrors(t *testing.T) {
	Register(regA{}, "journal.test.regA")
	type big struct{ B []byte }
	Register(big{}, "journal.test.big")

	for _, ev := range []any{nil, 1, &regA{}, struct{ N int }{}} {
		if _, _, err := encodeEvent(ev); !errors.Is(err, ErrUnknownType) {
			t.Errorf("encodeEvent(%T): %v, want ErrUnknownType", ev, err)
		}
	}
	// base64 makes 4 bytes of 3: this payload exceeds the limit.
	if _, _, err := encodeEvent(big{B: make([]byte, MaxEventSize*3/4+3)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("encodeEvent(too large): %v, want ErrTooLarge", err)
	}
	if _, _, err := encodeEvent(big{B: make([]byte, MaxEventSize/2)}); err != nil {
		t.Errorf("encodeEvent(large but allowed): %v", err)
	}
	if _, err := decodeEvent("vigil.events/unknown", []byte(`{}`)); !errors.Is(err, ErrUnknownType) {
		t.Errorf("decodeEvent(unknown URL): %v, want ErrUnknownType", err)
	}
	if _, err := decodeEvent("vigil.events/journal.test.regA", []byte(`[`)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("decodeEvent(bad JSON): %v, want ErrCorrupt", err)
	}
	ev, err := decodeEvent("vigil.events/journal.test.regA", []byte(`{"N":3}`))
	if err != nil || reflect.TypeOf(ev) != reflect.TypeOf(regA{}) || ev.(regA).N != 3 {
		t.Errorf("decodeEvent = %#v, %v; want regA{N: 3}", ev, err)
	}
}
