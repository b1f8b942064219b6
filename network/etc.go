package network

import (
	"bufio"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// defaultNameservers are docker's fallback when the host has none a
// container can reach.
var defaultNameservers = []string{"8.8.8.8", "8.8.4.4"}

// ResolvConf is the /etc/resolv.conf of a container made from the host's:
// its search and options lines, and its name servers less the loopback
// ones (which a container outside the host's namespace cannot reach)
// unless hostNetwork; dns, when given, replaces the name servers. With no
// name server left it uses docker's fallback, 8.8.8.8 and 8.8.4.4.
func ResolvConf(host string, dns []string, hostNetwork bool) string {
	var b strings.Builder
	var servers []string
	sc := bufio.NewScanner(strings.NewReader(host))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		if f[0] != "nameserver" {
			b.WriteString(line + "\n")
			continue
		}
		if len(f) < 2 {
			continue
		}
		a, err := netip.ParseAddr(strings.SplitN(f[1], "%", 2)[0])
		if err != nil || (a.IsLoopback() && !hostNetwork) {
			continue
		}
		servers = append(servers, f[1])
	}
	if len(dns) > 0 {
		servers = dns
	}
	if len(servers) == 0 {
		servers = defaultNameservers
	}
	var out strings.Builder
	for _, s := range servers {
		out.WriteString("nameserver " + s + "\n")
	}
	return out.String() + b.String()
}

// Host is one line of /etc/hosts.
type Host struct {
	IP    string
	Names []string
}

// Hosts is the /etc/hosts of a container: localhost, its own address under
// its host name (and ID), the extra hosts (NAME:IP), then its peers on a
// user-defined network. On the host network it is the host's file plus
// the extra hosts.
func Hosts(a Attachment, own []string, peers []Host, hostFile string) string {
	var b strings.Builder
	if a.HostNetwork {
		b.WriteString(hostFile)
		if hostFile != "" && !strings.HasSuffix(hostFile, "\n") {
			b.WriteString("\n")
		}
	} else {
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
		names := []string{a.Hostname}
		if a.Hostname != a.ID && a.ID != "" {
			names = append(names, a.ID)
		}
		for _, ip := range own {
			fmt.Fprintf(&b, "%s\t%s\n", ip, strings.Join(names, " "))
		}
	}
	for _, h := range a.ExtraHosts {
		name, ip, _ := strings.Cut(h, ":")
		fmt.Fprintf(&b, "%s\t%s\n", strings.Trim(ip, "[]"), name)
	}
	slices.SortFunc(peers, func(x, y Host) int { return strings.Compare(x.Names[0], y.Names[0]) })
	for _, p := range peers {
		fmt.Fprintf(&b, "%s\t%s\n", p.IP, strings.Join(p.Names, " "))
	}
	return b.String()
}
