package vigil_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// A Go program embeds the supervisor, creates a container, and talks to the
// container's actor through its PID with typed messages.
func Example() {
	// First thing in main: containerd's shim runs this program to capture
	// a container's output (Config.LoggerBinary defaults to it).
	vigil.RunLoggerIfInvoked()

	ctx := context.Background()
	sup, err := vigil.Open(ctx, vigil.Config{
		ContainerdAddress: "/run/containerd/containerd.sock",
		StateDir:          "/var/lib/vigil",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sup.Close() // containers keep running

	pid, err := sup.Create(ctx, lifecycle.Config{
		ID:     "hello",
		Rootfs: "/srv/rootfs/busybox",
		Args:   []string{"/bin/sh", "-c", "echo hello; exit 3"},
	})
	if err != nil {
		log.Fatal(err)
	}

	root := sup.Root()
	res, err := root.RequestFuture(pid, actors.Start{}, 30*time.Second).Result()
	if err != nil {
		log.Fatal(err)
	}
	if r := res.(actors.Reply); r.Err != nil {
		log.Fatal(r.Err)
	}
	// Wait replies once the condition holds; the state is journaled first.
	res, err = root.RequestFuture(pid, actors.Wait{Condition: actors.WaitNotRunning}, time.Minute).Result()
	if err != nil {
		log.Fatal(err)
	}
	st := res.(actors.Reply).State
	fmt.Println(st.Status, st.Exit.Code)

	if err := sup.Remove(ctx, "hello", false); err != nil {
		log.Fatal(err)
	}
}
