package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/containerd/typeurl/v2"
)

// typeURLBase is the prefix of every event type URL.
const typeURLBase = "vigil.events"

// maxNameLen bounds the name given to Register.
const maxNameLen = 200

// registry maps event types to type URLs and back. typeurl keeps its own
// registry, which panics on some duplicates and knows other packages' types
// too; this one guards it and limits decoding to vigil's events.
var registry = struct {
	sync.RWMutex
	byType map[reflect.Type]string
	byURL  map[string]reflect.Type
}{
	byType: make(map[reflect.Type]string),
	byURL:  make(map[string]reflect.Type),
}

// Register makes the struct type of v an event type that can be appended and
// replayed, under the type URL "vigil.events/<name>". v is a value, not a
// pointer: a caller that appends T{...} replays T{...}. Events are encoded
// as JSON, so only exported fields are kept.
//
// Register is meant for package initialization. Registering the same type
// under the same name again does nothing. It panics on a programming error:
// v is not a struct, a protobuf message, or a pointer; name is empty, too
// long, or holds characters other than letters, digits, '.', '_', '-' and
// '/'-separated segments; the type already has another name; or the name
// already belongs to another type. A name is part of the journal format:
// never rename a registered event.
func Register(v any, name string) {
	t := reflect.TypeOf(v)
	if err := checkRegistration(t, name); err != nil {
		panic(fmt.Sprintf("journal: Register(%v, %q): %v", t, name, err))
	}
	url := typeURLBase + "/" + name

	registry.Lock()
	defer registry.Unlock()
	if have, ok := registry.byType[t]; ok {
		if have == url {
			return
		}
		panic(fmt.Sprintf("journal: Register(%v, %q): type already registered as %q", t, name, have))
	}
	if other, ok := registry.byURL[url]; ok {
		panic(fmt.Sprintf("journal: Register(%v, %q): name already taken by %v", t, name, other))
	}
	ptr := reflect.New(t).Interface()
	if have, err := typeurl.TypeURL(ptr); err == nil && have != url {
		panic(fmt.Sprintf("journal: Register(%v, %q): type registered with typeurl as %q", t, name, have))
	}
	typeurl.Register(ptr, typeURLBase, name)
	registry.byType[t] = url
	registry.byURL[url] = t
}

func checkRegistration(t reflect.Type, name string) error {
	switch {
	case t == nil:
		return errors.New("nil event")
	case t.Kind() == reflect.Pointer:
		return errors.New("pass a value, not a pointer")
	case t.Kind() != reflect.Struct:
		return fmt.Errorf("%v is not a struct", t.Kind())
	case isProtoMessage(t):
		return errors.New("protobuf messages are not supported; register a plain struct")
	case name == "":
		return errors.New("empty name")
	case len(name) > maxNameLen:
		return fmt.Errorf("name of %d bytes, at most %d allowed", len(name), maxNameLen)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("empty, '.' or '..' segment in name")
		}
		for _, c := range seg {
			ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
				c == '.' || c == '_' || c == '-'
			if !ok {
				return fmt.Errorf("character %q in name (use letters, digits, '.', '_', '-' and '/')", c)
			}
		}
	}
	return nil
}

// isProtoMessage reports whether *t is a protobuf message. typeurl would
// marshal it as protobuf but, registered by us, unmarshal it as JSON.
func isProtoMessage(t reflect.Type) bool {
	_, ok := reflect.PointerTo(t).MethodByName("ProtoReflect")
	return ok
}

// encodeEvent returns the type URL and payload of ev, a value of a
// registered type. Errors wrap ErrUnknownType or ErrTooLarge, or come from
// the encoder.
func encodeEvent(ev any) (string, []byte, error) {
	t := reflect.TypeOf(ev)
	registry.RLock()
	url, ok := registry.byType[t]
	registry.RUnlock()
	if !ok {
		return "", nil, ErrUnknownType
	}
	// typeurl looks types up through a pointer; marshal a copy of ev.
	ptr := reflect.New(t)
	ptr.Elem().Set(reflect.ValueOf(ev))
	a, err := typeurl.MarshalAny(ptr.Interface())
	if err != nil {
		return "", nil, fmt.Errorf("encode: %w", err)
	}
	if got := a.GetTypeUrl(); got != url {
		return "", nil, fmt.Errorf("encode: typeurl gives type URL %q, registered as %q", got, url)
	}
	payload := a.GetValue()
	if len(payload) > MaxEventSize {
		return "", nil, fmt.Errorf("%w: %d bytes encoded, at most %d allowed", ErrTooLarge, len(payload), MaxEventSize)
	}
	return url, payload, nil
}

// decodeEvent returns the event, as a value, stored with url and payload.
// Errors wrap ErrUnknownType (url is not registered in this program) or
// ErrCorrupt (the payload does not decode).
func decodeEvent(url string, payload []byte) (any, error) {
	registry.RLock()
	t, ok := registry.byURL[url]
	registry.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: type URL %q", ErrUnknownType, url)
	}
	// What typeurl does for a type registered with it (a JSON decode into
	// a new value), without its search of every registered type, which
	// costs more than the decode on a replay.
	ptr := reflect.New(t)
	if err := json.Unmarshal(payload, ptr.Interface()); err != nil {
		return nil, fmt.Errorf("%w: payload of %s: %w", ErrCorrupt, url, err)
	}
	return ptr.Elem().Interface(), nil
}

func isUnknownType(err error) bool { return errors.Is(err, ErrUnknownType) }

// NameOf returns the name v's type was registered under (the type URL
// without "vigil.events/"), and false for a type never registered.
func NameOf(v any) (string, bool) {
	registry.RLock()
	url, ok := registry.byType[reflect.TypeOf(v)]
	registry.RUnlock()
	return strings.TrimPrefix(url, typeURLBase+"/"), ok
}
