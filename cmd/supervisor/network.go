package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/api"
)

// networkFlags are the networking flags of run and create, as docker
// names them. --hostname is with the isolation flags (resources.go).
type networkFlags struct {
	network    string
	publish    listFlag
	publishAll bool
	dns        listFlag
	addHost    listFlag
}

func (f *networkFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.network, "network", "", "connect the container to `NETWORK`: bridge, none, host, a network's name, or container:ID (default: the daemon's --default-network, bridge)")
	fs.Var(&f.publish, "p", "publish a port `[IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]` (repeatable)")
	fs.BoolVar(&f.publishAll, "P", false, "publish the image's exposed ports on free host ports")
	fs.Var(&f.dns, "dns", "name server `IP` of the container's /etc/resolv.conf (repeatable)")
	fs.Var(&f.addHost, "add-host", "add `NAME:IP` to the container's /etc/hosts (repeatable)")
}

// apply puts the flags into req; the supervisor checks them at the create.
func (f *networkFlags) apply(req *api.CreateRequest) error {
	req.Network, req.PublishAll = f.network, f.publishAll
	for _, p := range f.publish {
		m, err := api.ParsePortMapping(p)
		if err != nil {
			return usageErrorf("-p: %s", strings.TrimPrefix(err.Error(), vigil.ErrInvalidArgument.Error()+": "))
		}
		req.Ports = append(req.Ports, m)
	}
	req.DNS, req.ExtraHosts = f.dns, f.addHost
	return nil
}

// networkConfig gives cfg the daemon's default network when it names
// none. -P (Config.PublishAll) is the supervisor's to resolve, when it
// admits the create.
func (s *server) networkConfig(cfg *api.Config) {
	if cfg.Network == "" {
		cfg.Network = s.info.DefaultNetwork
	}
}

// Networks is what the network endpoints need of the backend.
type Networks interface {
	CreateNetwork(name, subnet string) (vigil.Network, error)
	Networks(ctx context.Context) ([]vigil.NetworkInfo, error)
	InspectNetwork(ctx context.Context, name string) (vigil.NetworkInfo, error)
	RemoveNetwork(ctx context.Context, name string) error
	Connect(ctx context.Context, id, network string) (vigil.State, error)
	Disconnect(ctx context.Context, id, network string) (vigil.State, error)
}

var _ Networks = (*vigil.Supervisor)(nil)

// networkCreateRequest is the body of POST /v1/networks.
type networkCreateRequest struct {
	Name   string `json:"name"`
	Subnet string `json:"subnet,omitempty"`
}

var networkRoutes = []route{
	{"GET", "/v1/networks", (*server).networkList},
	{"POST", "/v1/networks", (*server).networkCreate},
	{"GET", "/v1/networks/{name}", (*server).networkInspect},
	{"DELETE", "/v1/networks/{name}", (*server).networkRemove},
	{"POST", "/v1/networks/{name}/connect", (*server).networkConnect},
	{"POST", "/v1/networks/{name}/disconnect", (*server).networkDisconnect},
}

func (s *server) networks() (Networks, error) {
	n, ok := s.b.(Networks)
	if !ok {
		return nil, errdefs.ErrNotImplemented.WithMessage("this daemon has no networks")
	}
	return n, nil
}

func (s *server) networkList(w http.ResponseWriter, r *http.Request) error {
	n, err := s.networks()
	if err != nil {
		return err
	}
	out, err := n.Networks(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	n, err := s.networks()
	if err != nil {
		return err
	}
	var req networkCreateRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	out, err := n.CreateNetwork(req.Name, req.Subnet)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	n, err := s.networks()
	if err != nil {
		return err
	}
	out, err := n.InspectNetwork(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	n, err := s.networks()
	if err != nil {
		return err
	}
	if err := n.RemoveNetwork(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) networkConnect(w http.ResponseWriter, r *http.Request) error {
	return s.networkConnection(w, r, Networks.Connect)
}

func (s *server) networkDisconnect(w http.ResponseWriter, r *http.Request) error {
	return s.networkConnection(w, r, Networks.Disconnect)
}

// networkConnection serves connect and disconnect: the body names the
// container; the answer is its state.
func (s *server) networkConnection(w http.ResponseWriter, r *http.Request, do func(Networks, context.Context, string, string) (vigil.State, error)) error {
	n, err := s.networks()
	if err != nil {
		return err
	}
	var req api.NetworkConnectRequest
	if err := decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Container == "" {
		return fmt.Errorf("%w: the body names no container", errdefs.ErrInvalidArgument)
	}
	st, err := do(n, r.Context(), req.Container, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.ContainerOf(st))
	return nil
}

var networkCommand = &command{
	name:     "network",
	synopsis: "create [--subnet CIDR] NAME | ls | inspect NAME... | rm NAME... | connect NAME ID | disconnect NAME ID",
	summary:  "manage networks: the default bridge and user-defined ones",
	details: `
  create [--subnet CIDR] NAME
        makes a user-defined network: a bridge of its own, with CIDR as its
        subnet (default: a free /24 of 10.224.0.0/11). A subnet that
        overlaps another network or a route of the host is refused.
  ls    lists the networks: name, subnet, bridge, containers.
  inspect NAME...
        prints each network as JSON, with its containers and their
        addresses.
  rm NAME...
        removes networks; one that a container is on is refused (remove
        the container first). The default network, bridge, cannot be
        removed.
  connect NAME ID
        connects container ID to network NAME besides its own network: a
        running container gets an interface on it (eth1, eth2...) at once,
        another at its next start; it keeps it across restarts. Only a
        container on a bridge or user-defined network can be connected.
  disconnect NAME ID
        disconnects container ID from a network it was connected to.

Containers join a network with run/create --network NAME. On a
user-defined network, containers reach each other by container ID: each
one's /etc/hosts lists the others, and is rewritten whenever one comes or
goes. On the default network (bridge, as docker's) they reach each other by
address only.`,
	setup: func(*flag.FlagSet) runFunc { return runNetwork },
}

func runNetwork(ctx context.Context, a *app, args []string) error {
	if len(args) == 0 {
		return usageErrorf("network needs a subcommand: create, ls, inspect, rm, connect or disconnect")
	}
	c := a.client()
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("network create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		subnet := fs.String("subnet", "", "the network's subnet `CIDR`")
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(a.stdout, "Usage: supervisor [global flags] network create [--subnet CIDR] NAME")
				return nil
			}
			return usageErrorf("%v", err)
		}
		if fs.NArg() != 1 {
			return usageErrorf("network create takes one network name")
		}
		var n vigil.Network
		if err := c.Do(ctx, http.MethodPost, "/v1/networks", nil, networkCreateRequest{Name: fs.Arg(0), Subnet: *subnet}, &n); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, n.Name)
		return nil
	case "ls":
		var nets []vigil.NetworkInfo
		if err := c.Do(ctx, http.MethodGet, "/v1/networks", nil, nil, &nets); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSUBNET\tBRIDGE\tCONTAINERS")
		for _, n := range nets {
			ids := make([]string, 0, len(n.Containers))
			for id := range n.Containers {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Subnet, n.Bridge, strings.Join(ids, ","))
		}
		return tw.Flush()
	case "inspect":
		if len(args) < 2 {
			return usageErrorf("network inspect takes network names")
		}
		var out []vigil.NetworkInfo
		for _, name := range args[1:] {
			var n vigil.NetworkInfo
			if err := c.Do(ctx, http.MethodGet, "/v1/networks/"+url.PathEscape(name), nil, nil, &n); err != nil {
				return err
			}
			out = append(out, n)
		}
		return printJSON(a.stdout, out)
	case "rm":
		if len(args) < 2 {
			return usageErrorf("network rm takes network names")
		}
		failed := false
		for _, name := range args[1:] {
			if err := c.Do(ctx, http.MethodDelete, "/v1/networks/"+url.PathEscape(name), nil, nil, nil); err != nil {
				a.errorf("%s: %v", name, err)
				failed = true
				continue
			}
			fmt.Fprintln(a.stdout, name)
		}
		if failed {
			return errReported
		}
		return nil
	case "connect", "disconnect":
		if len(args) != 3 {
			return usageErrorf("network %s takes a network name and a container ID", args[0])
		}
		do := c.ConnectNetwork
		if args[0] == "disconnect" {
			do = c.DisconnectNetwork
		}
		if _, err := do(ctx, args[1], args[2]); err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, args[2])
		return nil
	}
	return usageErrorf("unknown network subcommand %q: use create, ls, inspect, rm, connect or disconnect", args[0])
}
