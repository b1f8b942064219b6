package c8dbridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	cgroup1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroup2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

func mustAny(t *testing.T, v any) *anypb.Any {
	t.Helper()
	a, err := typeurl.MarshalAnyToProto(v)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Both cgroup versions decode from the Any that containerd sends; the one
// this host does not run is only covered here.
func TestDecodeMetrics(t *testing.T) {
	v1 := &cgroup1.Metrics{
		CPU: &cgroup1.CPUStat{Usage: &cgroup1.CPUUsage{Total: 1_500_000, User: 1_000_000}},
		Memory: &cgroup1.MemoryStat{
			TotalInactiveFile: 1000,
			Usage:             &cgroup1.MemoryEntry{Usage: 5000, Limit: 9223372036854771712}, // v1's "no limit"
		},
		Pids: &cgroup1.PidsStat{Current: 3, Limit: 100},
		Blkio: &cgroup1.BlkIOStat{IoServiceBytesRecursive: []*cgroup1.BlkIOEntry{
			{Op: "Read", Major: 8, Value: 100},
			{Op: "Write", Major: 8, Value: 20},
			{Op: "Total", Major: 8, Value: 120},
			{Op: "Read", Major: 253, Value: 7},
			{Op: "Write", Major: 253, Value: 1},
		}},
	}
	v2 := &cgroup2.Metrics{
		CPU:    &cgroup2.CPUStat{UsageUsec: 1500},
		Memory: &cgroup2.MemoryStat{Usage: 8192, InactiveFile: 10000, UsageLimit: 1 << 20},
		Pids:   &cgroup2.PidsStat{Current: 2, Limit: ^uint64(0)},
		Io: &cgroup2.IOStat{Usage: []*cgroup2.IOEntry{
			{Major: 8, Rbytes: 100, Wbytes: 20},
			{Major: 253, Rbytes: 7, Wbytes: 1},
		}},
	}
	for _, tc := range []struct {
		name string
		in   any
		want Stats
	}{
		{"cgroup v1", v1, Stats{Cgroup: 1, CPUUsageNanos: 1_500_000, MemoryUsage: 4000, MemoryLimit: 0,
			Pids: 3, PidsLimit: 100, BlkioRead: 107, BlkioWrite: 21}},
		// More inactive file cache than usage must not wrap around.
		{"cgroup v2", v2, Stats{Cgroup: 2, CPUUsageNanos: 1_500_000, MemoryUsage: 0, MemoryLimit: 1 << 20,
			Pids: 2, PidsLimit: 0, BlkioRead: 107, BlkioWrite: 21}},
		{"empty v1", &cgroup1.Metrics{}, Stats{Cgroup: 1}},
		{"empty v2", &cgroup2.Metrics{}, Stats{Cgroup: 2}},
	} {
		got, err := decodeMetrics(mustAny(t, tc.in))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

func TestDecodeMetricsUnknown(t *testing.T) {
	for name, a := range map[string]*anypb.Any{
		"nil":          nil,
		"another type": mustAny(t, &apievents.TaskOOM{ContainerID: "x"}),
		"unregistered": {TypeUrl: "example.com/not.a.Type", Value: []byte{1, 2}},
	} {
		if _, err := decodeMetrics(a); !errdefs.IsNotImplemented(err) {
			t.Errorf("%s: got %v, want a NotImplemented-class error", name, err)
		}
	}
}

func TestParseStat(t *testing.T) {
	for in, want := range map[string][2]string{
		"42 (sleep) S 1 42 42 0 -1":       {"sleep", "S"},
		"7 (a (b) c) R 1 2 3":             {"a (b) c", "R"},
		"9 (with space) Z 1":              {"with space", "Z"},
		"10 (x)y) D":                      {"x)y", "D"},
		"1 (init) S 0 1 1 0 -1 4194560 0": {"init", "S"},
	} {
		comm, state, err := parseStat([]byte(in))
		if err != nil || comm != want[0] || state != want[1] {
			t.Errorf("parseStat(%q) = %q, %q, %v; want %q, %q", in, comm, state, err, want[0], want[1])
		}
	}
	for _, bad := range []string{"", "42 sleep S", "42 (sleep)", "42 )sleep( S"} {
		if _, _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) took a malformed line", bad)
		}
	}
}

func TestReadProc(t *testing.T) {
	root := t.TempDir()
	write := func(pid, name, data string) {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("5", "cmdline", "sleep\x00600\x00")
	write("5", "stat", "5 (sleep) S 1 5 5 0")
	write("6", "cmdline", "")
	write("6", "stat", "6 (kworker/0:1) I 2 0 0 0")

	p := Process{Pid: 5}
	readProc(root, &p)
	if strings.Join(p.Args, "|") != "sleep|600" || p.Comm != "sleep" || p.State != "S" {
		t.Errorf("pid 5: %+v", p)
	}
	p = Process{Pid: 6}
	readProc(root, &p)
	if p.Args != nil || p.Comm != "kworker/0:1" || p.State != "I" {
		t.Errorf("pid 6: %+v", p)
	}
	p = Process{Pid: 7, ExecID: "e"} // gone before /proc was read
	readProc(root, &p)
	if p.Pid != 7 || p.ExecID != "e" || p.Args != nil || p.Comm != "" || p.State != "" {
		t.Errorf("pid 7: %+v", p)
	}
}
