package network

import "testing"

func TestResolvConf(t *testing.T) {
	host := "# generated\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch example.org\noptions edns0\n"
	cases := []struct {
		name        string
		dns         []string
		hostNetwork bool
		want        string
	}{
		{"loopback dropped", nil, false, "nameserver 192.0.2.1\nsearch example.org\noptions edns0\n"},
		{"host network keeps loopback", nil, true, "nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch example.org\noptions edns0\n"},
		{"dns replaces", []string{"198.51.100.7"}, false, "nameserver 198.51.100.7\nsearch example.org\noptions edns0\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ResolvConf(host, c.dns, c.hostNetwork); got != c.want {
				t.Errorf("got\n%s\nwant\n%s", got, c.want)
			}
		})
	}
	if got, want := ResolvConf("nameserver ::1\nnameserver 127.0.0.1\n", nil, false), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"; got != want {
		t.Errorf("only loopback servers: got %q, want docker's fallback %q", got, want)
	}
}

func TestHosts(t *testing.T) {
	a := Attachment{ID: "web", Hostname: "web", ExtraHosts: []string{"db:192.0.2.9"}}
	got := Hosts(a, []string{"10.1.0.2"}, []Host{{IP: "10.1.0.3", Names: []string{"worker"}}, {IP: "10.1.0.4", Names: []string{"api"}}}, "")
	want := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.1.0.2\tweb\n192.0.2.9\tdb\n10.1.0.4\tapi\n10.1.0.3\tworker\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	a = Attachment{ID: "x", Hostname: "box", HostNetwork: true, ExtraHosts: []string{"db:192.0.2.9"}}
	if got, want := Hosts(a, nil, nil, "127.0.0.1 localhost myhost"), "127.0.0.1 localhost myhost\n192.0.2.9\tdb\n"; got != want {
		t.Errorf("host network: got %q, want %q", got, want)
	}
}
