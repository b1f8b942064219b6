package dockerapi

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// errEOF is the end of an empty request body.
var errEOF = io.EOF

// uname is the kernel's release ("6.1.0-18-amd64").
func uname() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// hostname is the host's name, as /info shows it.
func hostname() string {
	h, _ := os.Hostname()
	return h
}
