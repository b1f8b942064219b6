package c8dbridge

import (
	"errors"
	"fmt"
	"testing"

	"github.com/containerd/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A start refused by state of an earlier task is told apart from the
// container's own failure (docs/RELIABILITY.md, bug 3): the errors are the
// ones containerd and the shim gave in the crash harness's runs, and the
// ones runc gives for a missing binary and a bad mount.
func TestLeftoverClassification(t *testing.T) {
	const id = "c00133"
	for _, tc := range []struct {
		name      string
		err       error
		leftover  bool
		transient bool
	}{
		{"a task containerd still has", status.Error(codes.AlreadyExists, "task c00133: already exists"), true, false},
		{"an old task that could not be cleared", fmt.Errorf("%w: task is unknown", errdefs.ErrAlreadyExists), true, false},
		{"the shim's state dir still there", status.Error(codes.Unknown,
			"mkdir /run/containerd/io.containerd.runtime.v2.task/vigil/c00133: file exists"), true, false},
		{"a shim killed while it created the task", status.Error(codes.Unknown, "failed to create shim task: ttrpc: closed: unknown"), true, false},
		{"containerd away", status.Error(codes.Unavailable, "connection refused"), false, true},
		{"containerd slow", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), false, true},
		{"a missing binary", status.Error(codes.Unknown, "failed to create shim task: OCI runtime create failed: runc create failed: "+
			`unable to start container process: exec: "/nope": stat /nope: no such file or directory: unknown`), false, false},
		{"a bad mount", status.Error(codes.Unknown, "failed to create shim task: OCI runtime create failed: runc create failed: "+
			"unable to start container process: error during container init: error mounting \"/missing\" to rootfs at \"/data\": "+
			"mkdir /run/x/rootfs/data: file exists: unknown"), false, false},
		{"another container's state dir", status.Error(codes.Unknown,
			"mkdir /run/containerd/io.containerd.runtime.v2.task/vigil/c00134: file exists"), false, false},
	} {
		err := wrapStart(id, tc.err)
		if got := IsLeftover(err); got != tc.leftover {
			t.Errorf("%s: IsLeftover = %v, want %v (%v)", tc.name, got, tc.leftover, err)
		}
		if got := IsTransient(err); got != tc.transient {
			t.Errorf("%s: IsTransient = %v, want %v (%v)", tc.name, got, tc.transient, err)
		}
		if tc.leftover && !errors.Is(err, ErrLeftover) {
			t.Errorf("%s: not ErrLeftover", tc.name)
		}
	}
	if IsLeftover(nil) || leftover(id, nil) != nil {
		t.Error("nil is no leftover")
	}
}
