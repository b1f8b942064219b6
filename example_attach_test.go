package vigil_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// An interactive container: attach before it starts, feed it input, read
// its output and its exit code. Its output is in its log as well.
func ExampleSupervisor_Attach() {
	ctx := context.Background()
	sup, err := vigil.Open(ctx, vigil.Config{
		ContainerdAddress: "/run/containerd/containerd.sock",
		StateDir:          "/var/lib/vigil",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sup.Close()

	if _, err := sup.Create(ctx, lifecycle.Config{
		ID:          "upper",
		Rootfs:      "/srv/rootfs/busybox",
		Args:        []string{"tr", "a-z", "A-Z"},
		Interactive: true, // stdin stays open for attached clients
	}); err != nil {
		log.Fatal(err)
	}
	at, err := sup.Attach(ctx, "upper", vigil.AttachOptions{
		Stdin:      strings.NewReader("hello\n"),
		CloseStdin: true, // the end of this input closes the container's stdin
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		Start:      true, // start it once attached: no output is missed
	})
	if err != nil {
		log.Fatal(err)
	}
	code, err := at.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit", code)
}
