package containerid

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"web", true},
		{"a", true},
		{"web-1.prod_x", true},
		{strings.Repeat("a", MaxLength), true},
		{strings.Repeat("a", MaxLength+1), false},
		{strings.Repeat("a", 200), false},
		{"", false},
		{"../x", false},
		{"a/b", false},
		{"..", false},
		{".", false},
		{"-a", false},
		{"a-", false},
		{"a..b", false},
		{"a b", false},
		{"a\x00b", false},
		{"é", false},
	} {
		err := Validate(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%q) = %v, does not wrap ErrInvalid", tc.id, err)
		}
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("web")
	f.Add("../x")
	f.Fuzz(func(t *testing.T, id string) {
		if Validate(id) == nil {
			if strings.ContainsAny(id, "/\\\x00") || id == "." || id == ".." || strings.HasPrefix(id, ".") {
				t.Fatalf("accepted %q", id)
			}
		}
	})
}
