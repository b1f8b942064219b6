package vigil_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/vigilhq/vigil"
)

// A command runs in a running container with its output copied as it
// comes; Wait returns its exit code once the exit is journaled.
func ExampleSupervisor_Exec() {
	ctx := context.Background()
	sup, err := vigil.Open(ctx, vigil.Config{
		ContainerdAddress: "/run/containerd/containerd.sock",
		StateDir:          "/var/lib/vigil",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sup.Close()

	x, err := sup.Exec(ctx, "web", vigil.ExecConfig{
		Args:   []string{"sh", "-c", "id -u; pwd"},
		User:   "65534",
		Cwd:    "/tmp",
		Stdin:  os.Stdin, // the command's stdin is closed when this ends
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	if err != nil {
		log.Fatal(err) // vigil.ErrInvalidTransition if web does not run
	}
	code, err := x.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit code", code)
}
