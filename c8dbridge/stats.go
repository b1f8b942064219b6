package c8dbridge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	cgroup1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroup2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	runcopts "github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/anypb"
)

// Stats is one sample of a task's resource usage, from its cgroup, in
// vigil's words. Counters (CPU time, block I/O) grow for the life of the
// task: a rate needs two samples.
type Stats struct {
	// Read is when containerd took the sample.
	Read time.Time `json:"read"`
	// Cgroup is the cgroup version the numbers come from: 1 or 2.
	Cgroup int `json:"cgroup"`
	// CPUUsageNanos is the CPU time the task's processes used, in
	// nanoseconds, user and system together.
	CPUUsageNanos uint64 `json:"cpu_usage_ns"`
	// MemoryUsage is the memory in use, in bytes, without the inactive
	// page cache (which the kernel reclaims first), as docker counts it.
	MemoryUsage uint64 `json:"memory_usage"`
	// MemoryLimit is the cgroup's memory limit in bytes; 0 if it has none.
	MemoryLimit uint64 `json:"memory_limit"`
	// Pids is the number of processes and threads; PidsLimit their limit,
	// 0 if none.
	Pids      uint64 `json:"pids"`
	PidsLimit uint64 `json:"pids_limit"`
	// BlkioRead and BlkioWrite are the bytes read from and written to
	// block devices, summed over the devices.
	BlkioRead  uint64 `json:"blkio_read"`
	BlkioWrite uint64 `json:"blkio_write"`
}

// noLimit: a limit at least this large is the kernel's "no limit" (cgroup
// v1 reports the largest page-aligned int64; v2's "max" arrives as the
// largest uint64).
const noLimit = 1 << 62

func limitOf(v uint64) uint64 {
	if v >= noLimit {
		return 0
	}
	return v
}

// Stats samples the resource usage of the container's task. Errors:
// NotFound if there is no task; NotImplemented if containerd reports
// metrics of a kind vigil does not know.
func (c *Client) Stats(ctx context.Context, id string) (Stats, error) {
	const op = "stats"
	if err := validateID(id); err != nil {
		return Stats{}, wrap(op, id, err)
	}
	r, err := c.c.TaskService().Metrics(c.ns(ctx), &tasksapi.MetricsRequest{Filters: []string{"id==" + id}})
	if err != nil {
		return Stats{}, wrap(op, id, err)
	}
	for _, m := range r.GetMetrics() {
		if m.GetID() != id {
			continue
		}
		s, err := decodeMetrics(m.GetData())
		if err != nil {
			return Stats{}, wrap(op, id, err)
		}
		s.Read = timeOf(m.GetTimestamp())
		return s, nil
	}
	return Stats{}, wrap(op, id, fmt.Errorf("%w: no metrics: the container has no task", errdefs.ErrNotFound))
}

// decodeMetrics turns the metrics message of a task (cgroup v1 or v2) into
// Stats; Read is left unset.
func decodeMetrics(data *anypb.Any) (Stats, error) {
	if data == nil {
		return Stats{}, fmt.Errorf("%w: empty metrics", errdefs.ErrNotImplemented)
	}
	v, err := typeurl.UnmarshalAny(data)
	if err != nil {
		return Stats{}, fmt.Errorf("%w: decode metrics of type %s: %w", errdefs.ErrNotImplemented, data.GetTypeUrl(), err)
	}
	switch m := v.(type) {
	case *cgroup1.Metrics:
		return statsV1(m), nil
	case *cgroup2.Metrics:
		return statsV2(m), nil
	}
	return Stats{}, fmt.Errorf("%w: metrics of type %T", errdefs.ErrNotImplemented, v)
}

func statsV1(m *cgroup1.Metrics) Stats {
	s := Stats{Cgroup: 1}
	s.CPUUsageNanos = m.GetCPU().GetUsage().GetTotal()
	if mem := m.GetMemory(); mem != nil {
		usage := mem.GetUsage().GetUsage()
		s.MemoryUsage = usage - min(usage, mem.GetTotalInactiveFile())
		s.MemoryLimit = limitOf(mem.GetUsage().GetLimit())
	}
	s.Pids = m.GetPids().GetCurrent()
	s.PidsLimit = limitOf(m.GetPids().GetLimit())
	for _, e := range m.GetBlkio().GetIoServiceBytesRecursive() {
		switch strings.ToLower(e.GetOp()) {
		case "read":
			s.BlkioRead += e.GetValue()
		case "write":
			s.BlkioWrite += e.GetValue()
		}
	}
	return s
}

func statsV2(m *cgroup2.Metrics) Stats {
	s := Stats{Cgroup: 2}
	s.CPUUsageNanos = m.GetCPU().GetUsageUsec() * 1000
	if mem := m.GetMemory(); mem != nil {
		usage := mem.GetUsage()
		s.MemoryUsage = usage - min(usage, mem.GetInactiveFile())
		s.MemoryLimit = limitOf(mem.GetUsageLimit())
	}
	s.Pids = m.GetPids().GetCurrent()
	s.PidsLimit = limitOf(m.GetPids().GetLimit())
	for _, e := range m.GetIo().GetUsage() {
		s.BlkioRead += e.GetRbytes()
		s.BlkioWrite += e.GetWbytes()
	}
	return s
}

// Process is one process of a container's task, as containerd lists it,
// with what the host's /proc says about it.
type Process struct {
	// Pid is the process ID in the host's PID namespace.
	Pid uint32 `json:"pid"`
	// ExecID is the ID of the exec process it belongs to, when the shim
	// reports one; empty for the task's own processes.
	ExecID string `json:"exec_id,omitempty"`
	// Args is its command line; Comm its name, for a process whose command
	// line is empty (a kernel thread, a zombie).
	Args []string `json:"args,omitempty"`
	Comm string   `json:"comm,omitempty"`
	// State is the kernel's one-letter state: R running, S sleeping, D
	// disk sleep, Z zombie, T stopped and so on. Empty when the process
	// ended before /proc was read.
	State string `json:"state,omitempty"`
}

// Top lists the processes of the container's task, sorted as containerd
// lists them. /proc is read on this host: the supervisor and containerd
// must share it. A process that ends between the listing and the read is
// listed without Args and State. Errors: NotFound if there is no task.
func (c *Client) Top(ctx context.Context, id string) ([]Process, error) {
	const op = "top"
	if err := validateID(id); err != nil {
		return nil, wrap(op, id, err)
	}
	r, err := c.c.TaskService().ListPids(c.ns(ctx), &tasksapi.ListPidsRequest{ContainerID: id})
	if err != nil {
		return nil, wrap(op, id, err)
	}
	out := make([]Process, 0, len(r.GetProcesses()))
	for _, p := range r.GetProcesses() {
		pr := Process{Pid: p.GetPid()}
		if info := p.GetInfo(); info != nil {
			if v, err := typeurl.UnmarshalAny(info); err == nil {
				if d, ok := v.(*runcopts.ProcessDetails); ok {
					pr.ExecID = d.GetExecID()
				}
			}
		}
		readProc("/proc", &pr)
		out = append(out, pr)
	}
	return out, nil
}

// readProc fills in what procRoot (/proc) tells about p.Pid; a process
// that is gone leaves p as it was.
func readProc(procRoot string, p *Process) {
	dir := procRoot + "/" + strconv.FormatUint(uint64(p.Pid), 10)
	if data, err := os.ReadFile(dir + "/cmdline"); err == nil {
		data = bytes.TrimRight(data, "\x00")
		if len(data) > 0 {
			p.Args = strings.Split(string(data), "\x00")
		}
	}
	if data, err := os.ReadFile(dir + "/stat"); err == nil {
		comm, state, err := parseStat(data)
		if err == nil {
			p.Comm, p.State = comm, state
		}
	}
}

// parseStat reads the name and state from /proc/PID/stat: "PID (COMM) S
// ...", where COMM may itself hold spaces and parentheses.
func parseStat(data []byte) (comm, state string, err error) {
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return "", "", errors.New("c8dbridge: malformed /proc stat line")
	}
	sc := bufio.NewScanner(bytes.NewReader(data[end+1:]))
	sc.Split(bufio.ScanWords)
	if !sc.Scan() {
		return "", "", errors.New("c8dbridge: /proc stat line has no state")
	}
	return string(data[open+1 : end]), sc.Text(), nil
}
