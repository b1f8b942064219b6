package network

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Footprint counts what the networks of this supervisor hold on the host:
// address leases, network namespace files, interfaces plugged into their
// bridges (the host ends of the containers' veths), and iptables rules
// that name one of its CNI networks or an address of one of its subnets
// (masquerading, port mappings, firewall). With no container attached,
// all are zero.
type Footprint struct {
	Leases, Namespaces, Veths, Rules int
}

// Footprint counts the supervisor's footprint now (see Footprint).
func (m *Manager) Footprint() (Footprint, error) {
	var f Footprint
	nets, err := m.List()
	if err != nil {
		return f, err
	}
	var subnets []netip.Prefix
	var names []string
	for _, n := range nets {
		mem, err := m.members(n)
		if err != nil {
			return f, err
		}
		f.Leases += len(mem)
		if ports, err := os.ReadDir(filepath.Join("/sys/class/net", n.Bridge, "brif")); err == nil {
			f.Veths += len(ports)
		}
		if p, err := netip.ParsePrefix(n.Subnet); err == nil {
			subnets = append(subnets, p)
		}
		names = append(names, `"`+n.CNIName+`"`)
	}
	if ents, err := os.ReadDir(filepath.Join(m.cfg.Dir, "netns")); err == nil {
		f.Namespaces = len(ents)
	}
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			return f, err
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "-A") && ruleOf(line, names, subnets) {
				f.Rules++
			}
		}
	}
	return f, nil
}

// ruleOf reports whether an iptables rule names one of the networks or
// matches a single address of one of the subnets.
func ruleOf(line string, names []string, subnets []netip.Prefix) bool {
	for _, n := range names {
		if strings.Contains(line, n) {
			return true
		}
	}
	for _, w := range strings.Fields(line) {
		p, err := netip.ParsePrefix(w)
		if err != nil || p.Bits() != 32 {
			continue
		}
		for _, s := range subnets {
			if s.Contains(p.Addr()) {
				return true
			}
		}
	}
	return false
}

// Holders lists, by container ID, what the supervisor's networks hold for
// each container: its address leases, its namespace file, and the
// iptables rules that name it (masquerading and port mappings carry the
// container ID in their comment). A container that is gone must hold
// nothing.
func (m *Manager) Holders() (map[string][]string, error) {
	out := map[string][]string{}
	nets, err := m.List()
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		mem, err := m.members(n)
		if err != nil {
			return nil, err
		}
		for id, ip := range mem {
			out[id] = append(out[id], "address "+ip+" on "+n.Name)
		}
	}
	if ents, err := os.ReadDir(filepath.Join(m.cfg.Dir, "netns")); err == nil {
		for _, e := range ents {
			out[e.Name()] = append(out[e.Name()], "network namespace")
		}
	}
	for _, table := range []string{"nat", "filter"} {
		b, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "-A") {
				continue
			}
			for _, n := range nets {
				_, rest, ok := strings.Cut(line, `name: \"`+n.CNIName+`\" id: \"`)
				if !ok {
					_, rest, ok = strings.Cut(line, `name: "`+n.CNIName+`" id: "`)
				}
				if ok {
					id, _, _ := strings.Cut(strings.TrimLeft(rest, `\`), `"`)
					id = strings.TrimSuffix(id, `\`)
					out[id] = append(out[id], table+" rule "+line)
				}
			}
		}
	}
	return out, nil
}
