package lifecycle

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
)

func bridged(id string) Config {
	c := cfg(id)
	c.Network = NetworkBridge
	c.Ports = []PortMapping{{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}
	return c
}

func names[T any](xs []T) []string {
	var out []string
	for _, x := range xs {
		switch v := any(x).(type) {
		case Event:
			out = append(out, v.eventName())
		case Effect:
			out = append(out, v.effectName())
		}
	}
	return out
}

// decideApply decides c, checks the events and effects by name, and
// applies the events.
func decideApply(t *testing.T, s State, c Command, events, effects []string) State {
	t.Helper()
	d, err := Decide(s, c)
	if err != nil {
		t.Fatalf("Decide(%s, %T): %v", s.Status, c, err)
	}
	if got := names(d.Events); !reflect.DeepEqual(got, events) {
		t.Fatalf("%T in %s: events %v, want %v", c, s.Status, got, events)
	}
	if got := names(d.Effects); !reflect.DeepEqual(got, effects) {
		t.Fatalf("%T in %s: effects %v, want %v", c, s.Status, got, effects)
	}
	return Replay(s, d.Events)
}

// TestNetworkRun: on a CNI network, the setup is journaled before the task
// starts and the release after it ended, each as an intent and an outcome.
func TestNetworkRun(t *testing.T) {
	s, _ := run(t, State{}, Create{Config: bridged("web"), At: at(0)}, RecordCreated{At: at(1)})
	s = decideApply(t, s, Start{At: at(2)}, []string{"StartRequested", "NetworkSetupRequested"}, []string{"setup-network"})
	if s.Net == nil || s.Net.Up || s.Net.Network != NetworkBridge {
		t.Fatalf("after the intent: %+v", s.Net)
	}
	s = decideApply(t, s, RecordNetworkSetUp{IPs: []string{"10.224.0.2"}, At: at(3)}, []string{"NetworkSetUp"}, []string{"start-task"})
	s = decideApply(t, s, RecordStarted{Pid: 42, At: at(4)}, []string{"TaskStarted"}, nil)
	s = decideApply(t, s, ObserveExit{Pid: 42, Code: 0, ExitedAt: at(5), At: at(5)},
		[]string{"TaskExited", "NetworkReleaseRequested"}, []string{"delete-task", "release-network"})
	if s.Net == nil || !s.Net.Releasing {
		t.Fatalf("after the exit: %+v", s.Net)
	}
	// A duplicate outcome, then the outcome.
	s = decideApply(t, s, RecordNetworkReleased{At: at(6)}, []string{"NetworkReleased"}, nil)
	decideApply(t, s, RecordNetworkReleased{At: at(7)}, nil, nil)
	if s.Net != nil {
		t.Fatalf("after the release: %+v", s.Net)
	}
}

// TestNetworkCrashes: what reconciliation does with each intent left
// without its outcome.
func TestNetworkCrashes(t *testing.T) {
	created, _ := run(t, State{}, Create{Config: bridged("web"), At: at(0)}, RecordCreated{At: at(1)})
	starting, _ := run(t, created, Start{At: at(2)})

	// The ADD may have happened, the task was never created: reconcile
	// carries the start out again, setting the network up again (the
	// setup undoes an earlier one first).
	decideApply(t, starting, Reconcile{Observed: Observation{ContainerExists: true, Task: TaskAbsent}, At: at(9)},
		[]string{"NetworkSetupRequested"}, []string{"setup-network"})

	// Set up, then a crash before the task was created: the same.
	up, _ := run(t, starting, RecordNetworkSetUp{IPs: []string{"10.224.0.2"}, At: at(3)})
	decideApply(t, up, Reconcile{Observed: Observation{ContainerExists: true, Task: TaskAbsent}, At: at(9)},
		[]string{"NetworkSetupRequested"}, []string{"setup-network"})

	// Running, and containerd lost the container (a host reboot): the exit
	// is recorded and the address released.
	runningNet, _ := run(t, up, RecordStarted{Pid: 42, At: at(4)})
	decideApply(t, runningNet, Reconcile{Observed: Observation{}, At: at(9)},
		[]string{"TaskExited", "NetworkReleaseRequested"}, []string{"release-network"})

	// Running and still running (a crash of the supervisor): nothing.
	decideApply(t, runningNet, Reconcile{Observed: Observation{ContainerExists: true, Task: TaskRunning, Pid: 42}, At: at(9)}, nil, nil)

	// The release journaled, not done: every reconcile asks for it again.
	releasing, _ := run(t, runningNet, ObserveExit{Pid: 42, ExitedAt: at(5), At: at(5)})
	for range 2 {
		decideApply(t, releasing, Reconcile{Observed: Observation{ContainerExists: true, Task: TaskAbsent}, At: at(9)}, nil, []string{"release-network"})
	}

	// A failed setup fails the start and releases what it may have left.
	decideApply(t, starting, RecordNetworkSetupFailed{Err: "no bridge", At: at(3)},
		[]string{"StartFailed", "NetworkReleaseRequested"}, []string{"release-network"})

	// A restart policy's start sets up again.
	withPolicy := bridged("web")
	withPolicy.Restart = RestartPolicy{Name: RestartAlways}
	r, _ := run(t, State{}, Create{Config: withPolicy, At: at(0)}, RecordCreated{At: at(1)}, Start{At: at(2)},
		RecordNetworkSetUp{At: at(3)}, RecordStarted{Pid: 42, At: at(4)}, ObserveExit{Pid: 42, Code: 1, ExitedAt: at(5), At: at(5)})
	if r.NextRestart == nil || r.Net == nil || !r.Net.Releasing {
		t.Fatalf("exit under always: restart %+v, net %+v", r.NextRestart, r.Net)
	}
	r, _ = run(t, r, RecordNetworkReleased{At: at(6)})
	decideApply(t, r, RestartTimeout{Attempt: r.NextRestart.Attempt, Due: r.NextRestart.Due, At: at(20)},
		[]string{"StartRequested", "NetworkSetupRequested"}, []string{"setup-network"})
}

// TestNetworkNoneAndHost: without CNI the task starts at once and nothing
// is released.
func TestNetworkNoneAndHost(t *testing.T) {
	for _, n := range []string{"", NetworkNone, NetworkHost, "container:other"} {
		c := cfg("web")
		c.Network = n
		s, _ := run(t, State{}, Create{Config: c, At: at(0)}, RecordCreated{At: at(1)})
		s = decideApply(t, s, Start{At: at(2)}, []string{"StartRequested"}, []string{"start-task"})
		s = decideApply(t, s, RecordStarted{Pid: 42, At: at(3)}, []string{"TaskStarted"}, nil)
		decideApply(t, s, ObserveExit{Pid: 42, ExitedAt: at(4), At: at(4)}, []string{"TaskExited"}, []string{"delete-task"})
	}
}

// TestNetworkReplay: the network events survive the journal's JSON, and
// replay gives the live state.
func TestNetworkReplay(t *testing.T) {
	live, events := run(t, State{}, Create{Config: bridged("web"), At: at(0)}, RecordCreated{At: at(1)}, Start{At: at(2)},
		RecordNetworkSetUp{IPs: []string{"10.224.0.2"}, At: at(3)}, RecordStarted{Pid: 42, At: at(4)})
	var replayed State
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		p := reflect.New(reflect.TypeOf(e))
		if err := json.Unmarshal(b, p.Interface()); err != nil {
			t.Fatal(err)
		}
		replayed = Apply(replayed, p.Elem().Interface().(Event))
	}
	if !reflect.DeepEqual(live, replayed) {
		t.Fatalf("replayed %+v\nlive %+v", replayed.Net, live.Net)
	}
}

func TestValidateNetwork(t *testing.T) {
	cases := []struct {
		name string
		set  func(*Config)
		ok   bool
	}{
		{"bridge with ports", func(c *Config) { *c = bridged(c.ID) }, true},
		{"user network", func(c *Config) { c.Network = "backend" }, true},
		{"share", func(c *Config) { c.Network = "container:db" }, true},
		{"share itself", func(c *Config) { c.Network = "container:web" }, false},
		{"share nothing", func(c *Config) { c.Network = "container:" }, false},
		{"bad name", func(c *Config) { c.Network = "no/such" }, false},
		{"ports without a bridge", func(c *Config) {
			c.Network = NetworkHost
			c.Ports = []PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "tcp"}}
		}, false},
		{"port out of range", func(c *Config) {
			c.Network = NetworkBridge
			c.Ports = []PortMapping{{HostPort: 65536, ContainerPort: 80, Protocol: "tcp"}}
		}, false},
		{"port twice", func(c *Config) {
			c.Network = NetworkBridge
			c.Ports = []PortMapping{{HostPort: 80, ContainerPort: 80, Protocol: "tcp"}, {HostPort: 80, ContainerPort: 81, Protocol: "tcp"}}
		}, false},
		{"bad dns", func(c *Config) { c.DNS = []string{"dns.example"} }, false},
		{"bad extra host", func(c *Config) { c.ExtraHosts = []string{"db"} }, false},
		{"extra host", func(c *Config) { c.ExtraHosts = []string{"db:192.0.2.1"} }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conf := cfg("web")
			c.set(&conf)
			err := ValidateConfig(conf)
			if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrInvalidArgument)) {
				t.Fatalf("ValidateConfig: %v, want ok %v", err, c.ok)
			}
		})
	}
}

func TestParsePortMapping(t *testing.T) {
	cases := []struct {
		in   string
		want PortMapping
		ok   bool
	}{
		{"8080:80", PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}, true},
		{"127.0.0.1:8080:80/udp", PortMapping{HostIP: "127.0.0.1", HostPort: 8080, ContainerPort: 80, Protocol: "udp"}, true},
		{"80", PortMapping{}, false},
		{"0:80", PortMapping{}, false},
		{"8080:70000", PortMapping{}, false},
		{"8080:80/sctp", PortMapping{}, false},
		{"host:8080:80", PortMapping{}, false},
		{"x:80", PortMapping{}, false},
	}
	for _, c := range cases {
		got, err := ParsePortMapping(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParsePortMapping(%q) = %+v, %v; want %+v, ok %v", c.in, got, err, c.want, c.ok)
		}
		if c.ok {
			if back, err := ParsePortMapping(got.String()); err != nil || back != got {
				t.Errorf("round trip of %q through %q: %+v, %v", c.in, got.String(), back, err)
			}
		}
	}
}

// FuzzNetworkNeverLeaks feeds random sequences of commands to a bridged
// container and checks that whenever its task cannot be running, an
// attachment is either being released or about to be set up, and that a
// running container is always set up.
func FuzzNetworkNeverLeaks(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		rng := rand.New(rand.NewPCG(a, b))
		c := bridged("web")
		c.Restart = RestartPolicy{Name: RestartAlways}
		s, _ := run(t, State{}, Create{Config: c, At: at(0)}, RecordCreated{At: at(1)})
		for i := range 60 {
			now := at(2 + i)
			var cmd Command
			nets := []string{"back", "front"}
			switch rng.IntN(14) {
			case 9:
				cmd = Connect{Network: nets[rng.IntN(2)], At: now}
			case 10:
				cmd = Disconnect{Network: nets[rng.IntN(2)], At: now}
			case 11:
				cmd = RecordNetworkConnected{Network: nets[rng.IntN(2)], IPs: []string{"10.225.0.2"}, At: now}
			case 12:
				cmd = RecordNetworkConnectFailed{Network: nets[rng.IntN(2)], Err: "x", At: now}
			case 13:
				cmd = RecordNetworkDisconnected{Network: nets[rng.IntN(2)], At: now}
			case 0:
				cmd = Start{At: now}
			case 1:
				cmd = RecordNetworkSetUp{IPs: []string{"10.224.0.2"}, At: now}
			case 2:
				cmd = RecordNetworkSetupFailed{Err: "x", At: now}
			case 3:
				cmd = RecordStarted{Pid: uint32(100 + i), At: now}
			case 4:
				cmd = ObserveExit{Pid: s.Pid, Code: 1, ExitedAt: now, At: now}
			case 5:
				cmd = RecordNetworkReleased{At: now}
			case 6:
				o := Observation{ContainerExists: rng.IntN(2) == 0, Task: TaskPhase(rng.IntN(4)), Pid: s.Pid}
				if s.Net != nil && !s.Net.Up {
					o.Task = TaskAbsent // the driver creates the task only after NetworkSetUp
				}
				cmd = Reconcile{Observed: o, At: now}
			case 7:
				if s.NextRestart != nil {
					cmd = RestartTimeout{Attempt: s.NextRestart.Attempt, Due: s.NextRestart.Due, At: now}
				} else {
					cmd = Stop{At: now}
				}
			case 8:
				cmd = Remove{Force: true, At: now}
			}
			d, err := Decide(s, cmd)
			if err != nil {
				continue
			}
			s = Replay(s, d.Events)
			switch s.Status {
			case StatusRunning:
				if s.Net == nil || !s.Net.Up || s.Net.Releasing {
					t.Fatalf("step %d (%T): running without its address: %+v", i, cmd, s.Net)
				}
				// Every connected network is attached or its ADD asked
				// for; every attachment not configured is being released.
				for _, x := range s.Networks {
					if a, ok := extraOf(s, x.Network); !ok || a.Releasing || a.IfName != x.IfName {
						t.Fatalf("step %d (%T): running, connected to %q and not attached: %+v", i, cmd, x.Network, s.Net)
					}
				}
				for _, a := range s.Net.Extra {
					if !ConnectedTo(s, a.Network) && !a.Releasing {
						t.Fatalf("step %d (%T): attached to %q, not connected, no release journaled", i, cmd, a.Network)
					}
				}
			case StatusExited:
				if s.Net != nil && !s.Net.Releasing {
					t.Fatalf("step %d (%T): exited and attached, no release journaled: %+v", i, cmd, s.Net)
				}
			case StatusRemoved:
				if s.Net != nil {
					t.Fatalf("step %d (%T): removed and attached", i, cmd)
				}
				return
			}
		}
	})
}
