// Package network gives containers their networks through CNI: the
// default bridge and user-defined networks (each a CNI bridge of vigil's
// with host-local addresses, port mappings and firewall rules, run by the
// plugins of containernetworking-plugins through github.com/containerd/go-cni),
// the network namespace of each attached container (a file bind-mounted
// under the state dir, which the OCI spec names), and each container's
// /etc/hosts and /etc/resolv.conf.
//
// It owns, under its directory (STATE/net):
//
//	networks/NAME.json          a network: its subnet and bridge (written atomically)
//	cni/NAME.conflist           the CNI configuration vigil wrote for it
//	leases/CNINAME/IP           host-local's address leases (its dataDir)
//	netns/ID                    the container's network namespace, while set up
//	containers/ID/attachment.json  what the container asked for (ports, names)
//	containers/ID/hosts, resolv.conf  bind-mounted into the container
//
// It never decides when to set up or release a container: the container's
// actor does, after journaling its intent (actors/lifecycle, network.go).
// Its caller's obligations: call WriteFiles before the containerd container
// is created (the spec bind-mounts the files), Setup before the task is
// created and Release after it ended, both idempotent, and Forget once the
// container is removed. Setup and Release may run concurrently for
// different containers.
//
// Names on a user-defined network: every member's /etc/hosts lists every
// other member by container ID, rewritten in place (the bind mount pins
// the inode) whenever a member is set up or released. The members are read
// from host-local's leases, so the list cannot disagree with the addresses
// handed out. The default bridge, as docker's, gives no names.
//
// Only this package imports go-cni; it does not import containerd's client.
package network
