package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckTrustedDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the check wants directories owned by the daemon's user, root")
	}
	base := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := mk("good", 0o700)
	open := mk("open", 0o777)
	sticky := mk("sticky", 0o777|os.ModeSticky)
	other := mk("other", 0o700)
	os.Chown(other, 1000, 1000)
	os.Symlink(good, filepath.Join(base, "link"))
	for _, tc := range []struct {
		dir, want string // want: part of the error; "" for trusted
	}{
		{good, ""},
		{filepath.Join(good, "new", "deeper"), ""}, // created by the daemon
		{filepath.Join(sticky, "new"), ""},         // a sticky parent, as /tmp
		{sticky, "writable by group or others"},
		{open, "writable by group or others"},
		{filepath.Join(open, "new"), "writable by group or others"},
		{other, "owned by uid 1000"},
		{filepath.Join(base, "link"), "symbolic link"},
		{filepath.Join(base, "link", "x"), "symbolic link"},
	} {
		err := checkTrustedDir(tc.dir)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v; want trusted", tc.dir, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidArgument)):
			t.Errorf("%s: %v; want ErrInvalidArgument saying %q", tc.dir, err, tc.want)
		}
	}
}
