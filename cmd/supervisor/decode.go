package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// checkBody refuses what encoding/json would take silently and differently
// from what the client meant: a key given twice (the last would win), a
// key spelled in another case than its field's ("ID" for "id", matched
// anyway), two keys differing only in case, and a NUL byte in any string
// (a C string, a path or an argument, ends there). t is the type the body
// is decoded into; it tells the objects that are structs (their keys are
// field names, matched case-insensitively by encoding/json) from maps
// (whose keys are data). data is a JSON value that already decodes.
func checkBody(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return checkValue(dec, t, "")
}

// checkValue reads one value from dec and checks it against t (nil: any).
func checkValue(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)) {
		t = nil // decodes itself: checked without knowing its fields
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("%s holds a NUL byte", where(path))
		}
	case json.Delim:
		switch v {
		case '{':
			return checkObject(dec, t, path)
		case '[':
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for i := 0; dec.More(); i++ {
				if err := checkValue(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
			_, err := dec.Token() // ']'
			return err
		}
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkObject checks the keys and values of an object whose '{' was read.
func checkObject(dec *json.Decoder, t reflect.Type, path string) error {
	var fields map[string]reflect.Type // exact JSON name -> type, for a struct
	var elem reflect.Type              // value type, for a map
	switch {
	case t != nil && t.Kind() == reflect.Struct:
		fields = map[string]reflect.Type{}
		collectFields(t, fields)
	case t != nil && t.Kind() == reflect.Map:
		elem = t.Elem()
	}
	seen := map[string]string{} // lower-case key -> the key as given
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if strings.IndexByte(key, 0) >= 0 {
			return fmt.Errorf("a key of %s holds a NUL byte", where(path))
		}
		sub := path + "." + key
		if path == "" {
			sub = key
		}
		if first, dup := seen[strings.ToLower(key)]; dup && (fields != nil || t == nil || first == key) {
			if first == key {
				return fmt.Errorf("%s is given twice", where(sub))
			}
			return fmt.Errorf("%q and %q are the same field given twice", first, key)
		}
		seen[strings.ToLower(key)] = key
		vt := elem
		if fields != nil {
			ft, ok := fields[key]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, key) {
						return fmt.Errorf("unknown field %q: the field is spelled %q", sub, name)
					}
				}
				// An unknown field: the decoder refuses it with its own
				// message.
			}
			vt = ft
		}
		if err := checkValue(dec, vt, sub); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	return err
}

// collectFields maps the JSON names of t's fields (embedded structs'
// included) to their types.
func collectFields(t reflect.Type, fields map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, fields)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
}

func where(path string) string {
	if path == "" {
		return "the request body"
	}
	return fmt.Sprintf("field %q", path)
}
