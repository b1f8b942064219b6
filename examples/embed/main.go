// Command embed runs one container with vigil embedded in-process: the
// program a new Go user writes first. It is a module of its own that
// requires vigil by its module path, as such a program would.
//
//	go run . -containerd /run/containerd/containerd.sock -rootfs /srv/rootfs/busybox
//
// It creates a container that prints a line and exits 3, waits for the
// exit, prints the container's log and its exit code, and removes it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/stdio"
)

func main() {
	// containerd's shim runs this very program to capture a container's
	// output: this call must come first.
	vigil.RunLoggerIfInvoked()

	containerd := flag.String("containerd", "/run/containerd/containerd.sock", "containerd's socket")
	rootfs := flag.String("rootfs", "", "absolute path of a busybox root filesystem")
	namespace := flag.String("namespace", vigil.DefaultNamespace, "containerd namespace")
	stateDir := flag.String("state", "", "state directory (default: a new temporary one)")
	flag.Parse()
	if *rootfs == "" {
		log.Fatal("-rootfs is required")
	}
	if *stateDir == "" {
		dir, err := os.MkdirTemp("", "vigil-embed-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		*stateDir = dir
	}
	if err := run(*containerd, *namespace, *stateDir, *rootfs); err != nil {
		log.Fatal(err)
	}
}

func run(containerd, namespace, stateDir, rootfs string) error {
	ctx := context.Background()
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	sup, err := vigil.Open(ctx, vigil.Config{ContainerdAddress: containerd, Namespace: namespace, StateDir: stateDir})
	if err != nil {
		return err
	}
	defer sup.Close() // containers keep running

	if _, err := sup.Create(ctx, vigil.ContainerConfig{
		ID:     "hello",
		Rootfs: rootfs,
		Args:   []string{"/bin/sh", "-c", "echo hello from the container; exit 3"},
	}); err != nil {
		return err
	}
	defer sup.Remove(ctx, "hello", true)
	if _, err := sup.Start(ctx, "hello"); err != nil {
		return err
	}
	st, err := sup.Wait(ctx, "hello", vigil.WaitNotRunning)
	if err != nil {
		return err
	}
	err = stdio.Read(ctx, sup.LogPath("hello"), stdio.ReadOptions{}, func(e stdio.Entry) error {
		fmt.Printf("%s: %s", e.Stream, e.Log)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Println("status:", st.Status, "exit code:", st.Exit.Code)
	return nil
}
