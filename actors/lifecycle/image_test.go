package lifecycle

import (
	"errors"
	"reflect"
	"testing"
)

func TestApplyImage(t *testing.T) {
	img := ImageDefaults{
		Name: "docker.io/library/app:1", Digest: "sha256:abc",
		Entrypoint: []string{"/bin/app"}, Cmd: []string{"--serve"},
		Env: []string{"PATH=/bin", "MODE=prod"}, WorkingDir: "/srv", User: "app",
		StopSignal: 2, Labels: map[string]string{"a": "1", "b": "2"},
		ExposedPorts: []string{"80/tcp"}, Healthcheck: &Healthcheck{Test: []string{"CMD", "true"}},
	}
	noCmd := img
	noCmd.Entrypoint, noCmd.Cmd = nil, nil
	empty, sh := []string{""}, []string{"/bin/sh", "-c"}
	cases := []struct {
		name       string
		cfg        Config
		img        ImageDefaults
		entrypoint *[]string
		args, env  []string
		cwd, user  string
		labels     map[string]string
		err        bool
	}{
		{name: "the image's", cfg: Config{ID: "a"}, img: img,
			args: []string{"/bin/app", "--serve"}, env: img.Env, cwd: "/srv", user: "app", labels: img.Labels},
		{name: "command replaces cmd", cfg: Config{ID: "a", Args: []string{"--check"}}, img: img,
			args: []string{"/bin/app", "--check"}, env: img.Env, cwd: "/srv", user: "app", labels: img.Labels},
		{name: "entrypoint drops cmd", cfg: Config{ID: "a"}, img: img, entrypoint: &sh, err: false,
			args: []string{"/bin/sh", "-c"}, env: img.Env, cwd: "/srv", user: "app", labels: img.Labels},
		{name: "empty entrypoint and a command", cfg: Config{ID: "a", Args: []string{"/bin/true"}}, img: img, entrypoint: &empty,
			args: []string{"/bin/true"}, env: img.Env, cwd: "/srv", user: "app", labels: img.Labels},
		{name: "empty entrypoint alone", cfg: Config{ID: "a"}, img: img, entrypoint: &empty, err: true},
		{name: "no program at all", cfg: Config{ID: "a"}, img: noCmd, err: true},
		{name: "env, cwd, user, labels of the user win", img: img,
			cfg:  Config{ID: "a", Env: []string{"MODE=dev", "NEW=1"}, Cwd: "/tmp", User: "root", Labels: map[string]string{"b": "x"}},
			args: []string{"/bin/app", "--serve"}, env: []string{"PATH=/bin", "MODE=dev", "NEW=1"}, cwd: "/tmp", user: "root",
			labels: map[string]string{"a": "1", "b": "x"}},
		{name: "rootfs and image", cfg: Config{ID: "a", Rootfs: "/r"}, img: img, err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ApplyImage(tc.cfg, tc.img, tc.entrypoint)
			if tc.err {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("err = %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.cfg
			want.Args, want.Env, want.Cwd, want.User, want.Labels = tc.args, tc.env, tc.cwd, tc.user, tc.labels
			want.Image, want.ImageDigest, want.StopSignal = img.Name, img.Digest, img.StopSignal
			want.ExposedPorts, want.Healthcheck = img.ExposedPorts, img.Healthcheck
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if err := ValidateConfig(got); err != nil {
				t.Errorf("ValidateConfig: %v", err)
			}
		})
	}
}

func TestStopSignalOfImage(t *testing.T) {
	s := State{ID: "a", Status: StatusRunning, Pid: 7, Config: Config{ID: "a", Image: "x", ImageDigest: "sha256:1", Args: []string{"x"}, StopSignal: 2}}
	d, err := Decide(s, Stop{Timeout: 0})
	if err != nil {
		t.Fatal(err)
	}
	if ev, ok := d.Events[0].(StopRequested); !ok || ev.Signal != 2 {
		t.Errorf("stop of a container whose image says SIGINT: %+v", d.Events)
	}
}
