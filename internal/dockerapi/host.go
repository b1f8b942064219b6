package dockerapi

import (
	"os"

	"golang.org/x/sys/unix"
)

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
