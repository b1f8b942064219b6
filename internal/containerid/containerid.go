// Package containerid validates container IDs. An ID is joined into paths
// under the state dir that are later removed, and is used as a containerd
// container ID, an actor name and a journal key, so it is checked once, at
// every entry point, before it touches any of them.
package containerid

import (
	"fmt"

	"github.com/containerd/errdefs"
)

// MaxLength is the longest ID accepted (containerd's own limit).
const MaxLength = 76

// ErrInvalid is wrapped by every validation error. Its class is
// InvalidArgument.
var ErrInvalid = errdefs.ErrInvalidArgument.WithMessage("invalid container ID")

// Validate reports whether id is a usable container ID: 1 to 76 characters,
// letters and digits, with single '.', '_' or '-' between them. It never
// accepts a path separator or a dot-only name.
func Validate(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalid)
	case len(id) > MaxLength:
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrInvalid, len(id), MaxLength)
	}
	prevSep := true // the ID must start with a letter or digit
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			prevSep = false
		case c == '.' || c == '_' || c == '-':
			if prevSep {
				return fmt.Errorf("%w: %q: %q at position %d must follow a letter or digit", ErrInvalid, id, c, i)
			}
			prevSep = true
		default:
			return fmt.Errorf("%w: %q: character %q at position %d (use letters, digits, '.', '_' and '-')", ErrInvalid, id, c, i)
		}
	}
	if prevSep {
		return fmt.Errorf("%w: %q must end with a letter or digit", ErrInvalid, id)
	}
	return nil
}
