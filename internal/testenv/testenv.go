// Package testenv gives integration tests what they need from the machine:
// a running containerd, root, a busybox rootfs and a namespace of their own.
//
// Each helper skips the test, naming what is missing and how to get it,
// unless VIGIL_REQUIRE_INTEGRATION=1, when it fails the test instead: CI sets
// that so a broken setup cannot pass as a run of skipped tests.
//
// The helpers never start anything; scripts/containerd.sh starts the
// private containerd and testdata/mkrootfs.sh builds the rootfs.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Environment variables read by this package.
const (
	// EnvAddress is the containerd socket to test against.
	EnvAddress = "VIGIL_CONTAINERD_ADDRESS"
	// EnvRequire, when "1", turns every skip of this package into a failure.
	EnvRequire = "VIGIL_REQUIRE_INTEGRATION"
	// EnvRootfs overrides the rootfs directory.
	EnvRootfs = "VIGIL_ROOTFS"
)

// dialTimeout bounds the check that containerd answers on its socket.
const dialTimeout = 2 * time.Second

// Containerd returns the address of the containerd to run integration tests
// against, from VIGIL_CONTAINERD_ADDRESS. It skips (or fails, see the package
// doc) the test if that is unset, nothing accepts connections there, or the
// test does not run as root (containerd and runc need it).
func Containerd(t testing.TB) string {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		unavailable(t, fmt.Sprintf("containerd integration tests need root (running as uid %d)", uid))
	}
	addr := os.Getenv(EnvAddress)
	if addr == "" {
		unavailable(t, fmt.Sprintf("containerd is not available: %s is not set "+
			"(start one with scripts/containerd.sh start, then %s=$(scripts/containerd.sh address))",
			EnvAddress, EnvAddress))
	}
	conn, err := net.DialTimeout("unix", strings.TrimPrefix(addr, "unix://"), dialTimeout)
	if err != nil {
		unavailable(t, fmt.Sprintf("containerd is not available at %s: %v (scripts/containerd.sh start)", addr, err))
	}
	conn.Close()
	return addr
}

// Rootfs returns the busybox root filesystem for test containers:
// VIGIL_ROOTFS if set, else testdata/rootfs/busybox in the repository. It
// skips (or fails) the test if the directory has no bin/busybox.
func Rootfs(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvRootfs)
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			unavailable(t, fmt.Sprintf("test rootfs not found: %v; run testdata/mkrootfs.sh", err))
		}
		dir = filepath.Join(root, "testdata", "rootfs", "busybox")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("testenv: rootfs path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bin", "busybox")); err != nil {
		unavailable(t, fmt.Sprintf("test rootfs missing at %s (%v); run testdata/mkrootfs.sh", dir, err))
	}
	return dir
}

// Namespace returns a containerd namespace that no other test uses:
// "vigiltest-", the test's name made valid, and a random suffix.
func Namespace(t testing.TB) string {
	t.Helper()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testenv: random namespace suffix: %v", err)
	}
	const prefix, maxLen = "vigiltest-", 76 // containerd's identifier limit
	suffix := "-" + hex.EncodeToString(b[:])
	name := sanitize(t.Name())
	if max := maxLen - len(prefix) - len(suffix); len(name) > max {
		name = strings.TrimRight(name[:max], "-")
	}
	if name == "" {
		name = "test"
	}
	return prefix + name + suffix
}

// sanitize lowercases s and turns every run of characters other than
// letters and digits into one '-', trimmed at both ends.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// unavailable skips the test with reason, or fails it if integration tests
// are required.
func unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("integration tests required (%s=1) but %s", EnvRequire, reason)
	}
	t.Skip(reason)
}

// Program returns path if a program is installed there; otherwise it
// skips the test naming the package to install (install), or fails it if
// integration tests are required.
func Program(t testing.TB, path, install string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		unavailable(t, fmt.Sprintf("%s is not installed (%v): %s", path, err, install))
	}
	return path
}

// repoRoot walks up from the working directory (a package dir under go
// test) to the directory that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
