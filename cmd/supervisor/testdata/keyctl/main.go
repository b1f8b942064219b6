// Command keyctl joins a new session keyring (keyctl(2)
// KEYCTL_JOIN_SESSION_KEYRING) and says whether the kernel let it: the
// integration tests build it statically and run it in a container, whose
// default seccomp profile refuses keyctl.
package main

import (
	"fmt"
	"os"
	"syscall"
)

const keyctlJoinSessionKeyring = 1

func main() {
	_, _, errno := syscall.Syscall(syscall.SYS_KEYCTL, keyctlJoinSessionKeyring, 0, 0)
	if errno != 0 {
		fmt.Println("keyctl:", errno)
		os.Exit(1)
	}
	fmt.Println("keyctl: ok")
}
