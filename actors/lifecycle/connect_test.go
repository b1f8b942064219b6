package lifecycle

import (
	"errors"
	"testing"

	"github.com/containerd/errdefs"
)

// TestNetworkConnect: a connection of a running container is journaled
// before its ADD and its outcome after; one of a stopped container is
// recorded and set up with the next start; the release at the exit
// covers it; a disconnection is journaled before its DEL.
func TestNetworkConnect(t *testing.T) {
	created, _ := run(t, State{}, Create{Config: bridged("web"), At: at(0)}, RecordCreated{At: at(1)})
	running, _ := run(t, created, Start{At: at(2)}, RecordNetworkSetUp{IPs: []string{"10.224.0.2"}, At: at(3)}, RecordStarted{Pid: 42, At: at(4)})

	s := decideApply(t, running, Connect{Network: "back", At: at(5)}, []string{"NetworkConnectRequested"}, []string{"connect-network"})
	if len(s.Networks) != 1 || s.Networks[0] != (ExtraNetwork{Network: "back", IfName: "eth1"}) || len(s.Net.Extra) != 1 || s.Net.Extra[0].Up {
		t.Fatalf("after the intent: networks %+v, net %+v", s.Networks, s.Net)
	}
	if len(running.Networks) != 0 || len(running.Net.Extra) != 0 {
		t.Fatalf("Apply changed the state it was given: %+v", running.Net)
	}
	pending := s
	s = decideApply(t, s, RecordNetworkConnected{Network: "back", IPs: []string{"10.225.0.2"}, At: at(6)}, []string{"NetworkConnected"}, nil)
	if x := s.Net.Extra[0]; !x.Up || x.IPs[0] != "10.225.0.2" || x.IfName != "eth1" {
		t.Fatalf("after the outcome: %+v", x)
	}
	decideApply(t, s, RecordNetworkConnected{Network: "back", At: at(7)}, nil, nil) // a duplicate

	// A crash between the intent and the outcome: reconcile connects again;
	// a running container set up changes nothing.
	obs := Observation{ContainerExists: true, Task: TaskRunning, Pid: 42}
	decideApply(t, pending, Reconcile{Observed: obs, At: at(9)}, nil, []string{"connect-network"})
	decideApply(t, s, Reconcile{Observed: obs, At: at(9)}, nil, nil)

	// Refusals change nothing.
	for _, c := range []struct {
		cmd  Command
		want error
	}{
		{Connect{Network: "back", At: at(8)}, errdefs.ErrAlreadyExists},
		{Connect{Network: "bridge", At: at(8)}, errdefs.ErrAlreadyExists},
		{Connect{Network: "host", At: at(8)}, ErrInvalidArgument},
		{Connect{Network: "none", At: at(8)}, ErrInvalidArgument},
		{Connect{Network: "container:db", At: at(8)}, ErrInvalidArgument},
		{Connect{Network: "../x", At: at(8)}, ErrInvalidArgument},
		{Disconnect{Network: "bridge", At: at(8)}, ErrInvalidArgument},
		{Disconnect{Network: "front", At: at(8)}, errdefs.ErrNotFound},
	} {
		if _, err := Decide(s, c.cmd); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c.cmd, err, c.want)
		}
	}
	host := cfg("h")
	host.Network = NetworkHost
	h, _ := run(t, State{}, Create{Config: host, At: at(0)}, RecordCreated{At: at(1)})
	if _, err := Decide(h, Connect{Network: "back", At: at(2)}); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("connect of a host-network container: %v", err)
	}

	// Disconnect: the intent, the DEL, the outcome; a crash between them:
	// reconcile disconnects again.
	d := decideApply(t, s, Disconnect{Network: "back", At: at(10)}, []string{"NetworkDisconnectRequested"}, []string{"disconnect-network"})
	if len(d.Networks) != 0 || !d.Net.Extra[0].Releasing {
		t.Fatalf("after the disconnect intent: %+v %+v", d.Networks, d.Net)
	}
	decideApply(t, d, Reconcile{Observed: obs, At: at(11)}, nil, []string{"disconnect-network"})
	if _, err := Decide(d, Connect{Network: "back", At: at(11)}); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("connect while the disconnection is under way: %v", err)
	}
	d = decideApply(t, d, RecordNetworkDisconnected{Network: "back", At: at(12)}, []string{"NetworkDisconnected"}, nil)
	if d.Net.Extra != nil || !d.Net.Up {
		t.Fatalf("after the disconnection: %+v", d.Net)
	}

	// A failed ADD gives the connection up and releases what it left.
	decideApply(t, pending, RecordNetworkConnectFailed{Network: "back", Err: "x", At: at(6)}, []string{"NetworkDisconnectRequested"}, []string{"disconnect-network"})

	// The exit releases the connection with the main network; the next
	// start sets both up.
	e := decideApply(t, s, ObserveExit{Pid: 42, ExitedAt: at(13), At: at(13)}, []string{"TaskExited", "NetworkReleaseRequested"}, []string{"delete-task", "release-network"})
	e = decideApply(t, e, RecordNetworkReleased{At: at(14)}, []string{"NetworkReleased"}, nil)
	if e.Net != nil || len(e.Networks) != 1 {
		t.Fatalf("after the release: net %+v, networks %+v", e.Net, e.Networks)
	}
	e = decideApply(t, e, Start{At: at(15)}, []string{"StartRequested", "NetworkSetupRequested"}, []string{"setup-network"})
	if len(e.Net.Extra) != 1 || e.Net.Extra[0].Up {
		t.Fatalf("after the setup intent: %+v", e.Net)
	}
	e = decideApply(t, e, RecordNetworkSetUp{IPs: []string{"10.224.0.3"}, Extra: map[string][]string{"back": {"10.225.0.3"}}, At: at(16)}, []string{"NetworkSetUp"}, []string{"start-task"})
	if x := e.Net.Extra[0]; !x.Up || x.IPs[0] != "10.225.0.3" || x.IfName != "eth1" {
		t.Fatalf("after the setup: %+v", e.Net)
	}

	// A stopped container: recorded only; a second connection gets eth2.
	c := decideApply(t, created, Connect{Network: "back", At: at(2)}, []string{"NetworkConnectRequested"}, nil)
	c = decideApply(t, c, Connect{Network: "other", At: at(3)}, []string{"NetworkConnectRequested"}, nil)
	if c.Net != nil || len(c.Networks) != 2 || c.Networks[1].IfName != "eth2" {
		t.Fatalf("connected while created: %+v %+v", c.Networks, c.Net)
	}
	c = decideApply(t, c, Disconnect{Network: "back", At: at(4)}, []string{"NetworkDisconnectRequested"}, nil)
	c = decideApply(t, c, Connect{Network: "third", At: at(5)}, []string{"NetworkConnectRequested"}, nil)
	if c.Networks[1] != (ExtraNetwork{Network: "third", IfName: "eth1"}) {
		t.Fatalf("the freed eth1 is not reused: %+v", c.Networks)
	}
}
