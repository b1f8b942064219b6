package c8dbridge

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"SIGTERM": syscall.SIGTERM,
		"TERM":    syscall.SIGTERM,
		"term":    syscall.SIGTERM,
		"SigTerm": syscall.SIGTERM,
		" hup ":   syscall.SIGHUP,
		"9":       syscall.SIGKILL,
		"KILL":    syscall.SIGKILL,
		"SIGUSR1": syscall.SIGUSR1,
		"usr2":    syscall.SIGUSR2,
		"15":      syscall.SIGTERM,
		"64":      syscall.Signal(64),
	} {
		got, err := ParseSignal(in)
		if err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "SIG", "NOPE", "SIGNOPE", "0", "-9", "65", "9x", "TERM9"} {
		if got, err := ParseSignal(in); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseSignal(%q) = %v, %v; want an InvalidArgument-class error", in, got, err)
		}
	}
}

func TestErrorPredicates(t *testing.T) {
	grpcErr := func(c codes.Code) error { return status.Error(c, "from containerd") }
	for _, tc := range []struct {
		name            string
		err             error
		gone, transient bool
	}{
		{"nil", nil, false, false},
		{"plain", errors.New("boom"), false, false},
		{"not found", errdefs.ErrNotFound, true, false},
		{"wrapped not found", fmt.Errorf("c8dbridge: task status %q: %w", "x", errdefs.ErrNotFound), true, false},
		{"grpc not found, classified", classify(grpcErr(codes.NotFound)), true, false},
		{"wrapped grpc not found", wrap("kill task", "x", grpcErr(codes.NotFound)), true, false},
		{"already exists", errdefs.ErrAlreadyExists, false, false},
		{"unavailable", fmt.Errorf("dial: %w", errdefs.ErrUnavailable), false, true},
		{"grpc unavailable", classify(grpcErr(codes.Unavailable)), false, true},
		{"deadline", context.DeadlineExceeded, false, true},
		{"grpc deadline", classify(grpcErr(codes.DeadlineExceeded)), false, true},
		{"canceled", context.Canceled, false, false},
		{"failed precondition", errdefs.ErrFailedPrecondition, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsGone(tc.err); got != tc.gone {
				t.Errorf("IsGone(%v) = %v, want %v", tc.err, got, tc.gone)
			}
			if got := IsTransient(tc.err); got != tc.transient {
				t.Errorf("IsTransient(%v) = %v, want %v", tc.err, got, tc.transient)
			}
		})
	}
}

func TestClassifyKeepsChain(t *testing.T) {
	sentinel := errors.New("sentinel")
	err := fmt.Errorf("ctx: %w", sentinel)
	if got := classify(err); !errors.Is(got, sentinel) {
		t.Errorf("classify lost the chain of a non-gRPC error: %v", got)
	}
	if got := wrap("op", "id", err); !errors.Is(got, sentinel) || got.Error() != `c8dbridge: op "id": ctx: sentinel` {
		t.Errorf("wrap = %q", got)
	}
}

func TestDecodeEvent(t *testing.T) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 5, time.UTC)
	for _, tc := range []struct {
		in   any
		want Event // nil: dropped
	}{
		{&apievents.TaskStart{ContainerID: "c", Pid: 10}, TaskStarted{Container: "c", Pid: 10}},
		{&apievents.TaskExit{ContainerID: "c", ID: "c", Pid: 10, ExitStatus: 7, ExitedAt: timestamppb.New(at)},
			TaskExited{Container: "c", ProcessID: "c", Pid: 10, ExitCode: 7, ExitedAt: at}},
		{&apievents.TaskExit{ContainerID: "c", ID: "exec-1", Pid: 11, ExitStatus: 1},
			TaskExited{Container: "c", ProcessID: "exec-1", Pid: 11, ExitCode: 1}},
		{&apievents.TaskOOM{ContainerID: "c"}, TaskOOM{Container: "c"}},
		{&apievents.TaskPaused{ContainerID: "c"}, TaskWasPaused{Container: "c"}},
		{&apievents.TaskResumed{ContainerID: "c"}, TaskWasUnpaused{Container: "c"}},
		{&apievents.TaskDelete{ContainerID: "c", Pid: 10, ExitStatus: 137, ExitedAt: timestamppb.New(at)},
			TaskDeleted{Container: "c", Pid: 10, ExitCode: 137, ExitedAt: at}},
		{&apievents.TaskCreate{ContainerID: "c"}, nil},
		{&apievents.TaskIO{Stdout: "x"}, nil},
		{&apievents.TaskExecAdded{ContainerID: "c"}, nil},
		{&apievents.ContainerCreate{ID: "c"}, nil},
	} {
		a, err := typeurl.MarshalAny(tc.in)
		if err != nil {
			t.Fatalf("MarshalAny(%T): %v", tc.in, err)
		}
		got, ok := decodeEvent(a)
		if ok != (tc.want != nil) || got != tc.want {
			t.Errorf("decodeEvent(%T) = %#v, %v; want %#v", tc.in, got, ok, tc.want)
		}
	}
	if ev, ok := decodeEvent(nil); ok {
		t.Errorf("decodeEvent(nil) = %v", ev)
	}
}

func TestTaskState(t *testing.T) {
	for in, want := range map[tasktypes.Status]TaskState{
		tasktypes.Status_UNKNOWN: TaskUnknown,
		tasktypes.Status_CREATED: TaskCreated,
		tasktypes.Status_RUNNING: TaskRunning,
		tasktypes.Status_STOPPED: TaskStopped,
		tasktypes.Status_PAUSED:  TaskPaused,
		tasktypes.Status_PAUSING: TaskPaused,
		tasktypes.Status(99):     TaskUnknown,
	} {
		if got := taskState(in); got != want {
			t.Errorf("taskState(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestDialUnreachable(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	c, err := Dial(context.Background(), Config{
		Address:     filepath.Join(dir, "containerd.sock"),
		Namespace:   "vigil",
		BundleRoot:  dir,
		DialTimeout: time.Second,
	})
	if err == nil {
		c.Close()
		t.Fatal("Dial to a socket nobody listens on succeeded")
	}
	if !errdefs.IsUnavailable(err) || !IsTransient(err) {
		t.Errorf("Dial error = %v, want an Unavailable-class error", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Dial took %v to fail, want about the 1 s dial timeout", d)
	}
}

func TestDialInvalidConfig(t *testing.T) {
	dir := t.TempDir()
	good := Config{Address: filepath.Join(dir, "sock"), Namespace: "vigil", BundleRoot: dir}
	for name, modify := range map[string]func(*Config){
		"no address":       func(c *Config) { c.Address = "" },
		"bad namespace":    func(c *Config) { c.Namespace = "a/b" },
		"no namespace":     func(c *Config) { c.Namespace = "" },
		"relative bundles": func(c *Config) { c.BundleRoot = "state" },
		"relative logger":  func(c *Config) { c.LoggerBinary = "vigil" },
		"missing logger":   func(c *Config) { c.LoggerBinary = filepath.Join(dir, "vigil") },
		"logger is a dir":  func(c *Config) { c.LoggerBinary = dir },
	} {
		cfg := good
		modify(&cfg)
		if c, err := Dial(context.Background(), cfg); !errdefs.IsInvalidArgument(err) {
			if c != nil {
				c.Close()
			}
			t.Errorf("%s: Dial error = %v, want an InvalidArgument-class error", name, err)
		}
	}
}
