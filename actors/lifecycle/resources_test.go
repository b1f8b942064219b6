package lifecycle

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateResources(t *testing.T) {
	half, zero, neg := 0.5, 0.0, -1.0
	tests := []struct {
		name string
		edit func(*Config)
		want string // a part of the error; "" for valid
	}{
		{"none", func(*Config) {}, ""},
		{"all set", func(c *Config) {
			c.Memory, c.CPUs, c.CPUShares, c.PidsLimit = 32<<20, &half, 512, 64
			c.User, c.ReadOnly, c.Hostname = "1000:1000", true, "web-1.example"
			c.Mounts = []Mount{{Source: "/srv/data", Target: "/data", ReadOnly: true}}
		}, ""},
		{"negative memory", func(c *Config) { c.Memory = -1 }, "memory limit -1 is negative"},
		{"tiny memory", func(c *Config) { c.Memory = 1024 }, "below the minimum"},
		{"zero cpus", func(c *Config) { c.CPUs = &zero }, "cpus 0"},
		{"negative cpus", func(c *Config) { c.CPUs = &neg }, "cpus -1"},
		{"negative shares", func(c *Config) { c.CPUShares = -2 }, "cpu shares -2"},
		{"too many shares", func(c *Config) { c.CPUShares = MaxCPUShares + 1 }, "cpu shares"},
		{"negative pids", func(c *Config) { c.PidsLimit = -1 }, "pids limit -1"},
		{"user name", func(c *Config) { c.User = "nobody:nogroup" }, ""},
		{"user uid", func(c *Config) { c.User = "65534" }, ""},
		{"user empty gid", func(c *Config) { c.User = "1000:" }, "no empty part"},
		{"user three parts", func(c *Config) { c.User = "1:2:3" }, "want uid[:gid]"},
		{"user negative", func(c *Config) { c.User = "-5" }, "not a uid"},
		{"user too big", func(c *Config) { c.User = "4294967296" }, "not a uid"},
		{"user bad name", func(c *Config) { c.User = "bob smith" }, "not a valid user"},
		{"relative source", func(c *Config) { c.Mounts = []Mount{{Source: "data", Target: "/data"}} }, `mount source "data"`},
		{"relative target", func(c *Config) { c.Mounts = []Mount{{Source: "/data", Target: "data"}} }, `mount target "data"`},
		{"target root", func(c *Config) { c.Mounts = []Mount{{Source: "/data", Target: "/"}} }, "cover the rootfs"},
		{"bad hostname", func(c *Config) { c.Hostname = "a_b" }, "hostname"},
		{"long hostname", func(c *Config) { c.Hostname = strings.Repeat("a", 65) }, "longer than 64"},
		{"log options", func(c *Config) { no := false; c.Log = LogOptions{MaxSize: 1 << 20, MaxFile: 3, Compress: &no} }, ""},
		{"negative log size", func(c *Config) { c.Log.MaxSize = -1 }, "log max-size -1"},
		{"tiny log size", func(c *Config) { c.Log.MaxSize = 100 }, "log max-size 100"},
		{"negative log files", func(c *Config) { c.Log.MaxFile = -1 }, "log max-file -1"},
		{"too many log files", func(c *Config) { c.Log.MaxFile = MaxLogFiles + 1 }, "log max-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg("c")
			tt.edit(&c)
			err := ValidateConfig(c)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tt.want != "" && (!errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want ErrInvalidArgument saying %q", err, tt.want)
			}
			// Decide refuses the same configs, before anything is journaled.
			d, derr := Decide(State{}, Create{Config: c, At: at(0)})
			if (derr == nil) != (tt.want == "") || (derr != nil && len(d.Events) != 0) {
				t.Fatalf("Decide: %+v %v", d, derr)
			}
		})
	}
}

func TestObserveOOM(t *testing.T) {
	exited := func(t *testing.T) State {
		s, _ := run(t, running(t, "c", 100), ObserveExit{Pid: 100, Code: 137, At: at(5)})
		return s
	}
	created, _ := run(t, State{}, Create{Config: cfg("c"), At: at(0)}, RecordCreated{At: at(1)})
	tests := []struct {
		name   string
		state  func(*testing.T) State
		record bool
	}{
		{"running", func(t *testing.T) State { return running(t, "c", 100) }, true},
		{"exited: the exit came first", exited, true},
		{"already recorded", func(t *testing.T) State {
			s, _ := run(t, running(t, "c", 100), ObserveOOM{At: at(4)})
			return s
		}, false},
		{"created", func(*testing.T) State { return created }, false},
		{"starting again", func(t *testing.T) State {
			s, _ := run(t, exited(t), Start{At: at(6)})
			return s
		}, false},
		{"none", func(*testing.T) State { return State{} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.state(t)
			d, err := Decide(s, ObserveOOM{At: at(9)})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(d.Events) == 1; got != tt.record || len(d.Effects) != 0 {
				t.Fatalf("in %s (oom %v): %#v", s.Status, s.OOMKilled, d)
			}
			if tt.record {
				if e, ok := d.Events[0].(TaskOOMKilled); !ok || !e.At.Equal(at(9)) {
					t.Fatalf("event %#v", d.Events[0])
				}
				if s = Apply(s, d.Events[0]); !s.OOMKilled {
					t.Fatal("not applied")
				}
			}
		})
	}
	// The next start clears it; the exit does not.
	s, _ := run(t, running(t, "c", 100), ObserveOOM{At: at(4)}, ObserveExit{Pid: 100, Code: 137, At: at(5)})
	if !s.OOMKilled || s.Exit.Code != 137 {
		t.Fatalf("after the exit: %+v", s)
	}
	if s, _ = run(t, s, Start{At: at(6)}); s.OOMKilled {
		t.Fatal("a start kept OOMKilled")
	}
}
