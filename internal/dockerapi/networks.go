package dockerapi

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/volume"

	"github.com/vigilhq/vigil"
)

// Networks: vigil's networks (the default bridge and user-defined ones)
// in docker's words, and docker's two built-in modes that are no network
// of vigil's: host and none. A network's ID is its name.

// builtin are the network modes docker lists as networks.
var builtin = map[string]string{"host": "host", "none": "null"}

func networkOf(n vigil.NetworkInfo) network.Inspect {
	out := network.Inspect{Network: network.Network{
		Name:       n.Name,
		ID:         n.Name,
		Created:    n.Created,
		Scope:      "local",
		Driver:     "bridge",
		EnableIPv4: true,
		IPAM:       network.IPAM{Driver: "default", Config: []network.IPAMConfig{}},
		Options:    map[string]string{"com.docker.network.bridge.name": n.Bridge},
		Labels:     map[string]string{},
	}, Containers: map[string]network.EndpointResource{}}
	cfg := network.IPAMConfig{}
	if p, err := netip.ParsePrefix(n.Subnet); err == nil {
		cfg.Subnet = p
	}
	if a, err := netip.ParseAddr(n.Gateway); err == nil {
		cfg.Gateway = a
	}
	out.IPAM.Config = append(out.IPAM.Config, cfg)
	for id, addr := range n.Containers {
		er := network.EndpointResource{Name: id}
		if p, err := netip.ParsePrefix(addr); err == nil {
			er.IPv4Address = p
		} else if a, err := netip.ParseAddr(addr); err == nil {
			er.IPv4Address = netip.PrefixFrom(a, a.BitLen())
		}
		out.Containers[id] = er
	}
	return out
}

func builtinNetwork(name string) network.Inspect {
	return network.Inspect{Network: network.Network{
		Name: name, ID: name, Scope: "local", Driver: builtin[name],
		IPAM:    network.IPAM{Driver: "default", Config: []network.IPAMConfig{}},
		Options: map[string]string{}, Labels: map[string]string{},
	}, Containers: map[string]network.EndpointResource{}}
}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) error {
	f, err := parseFilters(r, []string{"name", "id", "driver"})
	if err != nil {
		return err
	}
	nets, err := s.sup.Networks(r.Context())
	if err != nil {
		return err
	}
	var all []network.Inspect
	for _, n := range nets {
		all = append(all, networkOf(n))
	}
	for _, name := range []string{"host", "none"} {
		all = append(all, builtinNetwork(name))
	}
	out := []network.Summary{}
	for _, n := range all {
		if !anyOf(f["name"], func(v string) bool { return strings.Contains(n.Name, v) }) ||
			!anyOf(f["id"], func(v string) bool { return strings.HasPrefix(n.ID, v) }) ||
			!anyOf(f["driver"], func(v string) bool { return n.Driver == v }) {
			continue
		}
		out = append(out, network.Summary{Network: n.Network})
	}
	slices.SortFunc(out, func(a, b network.Summary) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("id")
	if _, ok := builtin[name]; ok {
		writeJSON(w, http.StatusOK, builtinNetwork(name))
		return nil
	}
	n, err := s.sup.InspectNetwork(r.Context(), name)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return errdefs.ErrNotFound.WithMessage("network " + name + " not found")
		}
		return err
	}
	writeJSON(w, http.StatusOK, networkOf(n))
	return nil
}

// networkCreate makes a user-defined bridge network; the first IPAM
// config's subnet is honoured.
func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var req network.CreateRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.Driver != "" && req.Driver != "bridge" {
		return badRequest("network driver %q is not served (bridge only)", req.Driver)
	}
	if _, ok := builtin[req.Name]; ok {
		return errdefs.ErrPermissionDenied.WithMessage("network " + req.Name + " is pre-defined")
	}
	subnet := ""
	if req.IPAM != nil && len(req.IPAM.Config) > 0 && req.IPAM.Config[0].Subnet.IsValid() {
		subnet = req.IPAM.Config[0].Subnet.String()
	}
	n, err := s.sup.CreateNetwork(req.Name, subnet)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, network.CreateResponse{ID: n.Name})
	return nil
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("id")
	if _, ok := builtin[name]; ok {
		return errdefs.ErrPermissionDenied.WithMessage(name + " is a pre-defined network and cannot be removed")
	}
	if err := s.sup.RemoveNetwork(r.Context(), name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// networkConnect connects a container to a network besides its own
// (Supervisor.Connect). An endpoint configuration that asks for more than
// the connection (aliases, links, a fixed address, a MAC address, driver
// options) is refused: vigil names a container on a network by its ID only.
func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) error {
	var req network.ConnectRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if ep := req.EndpointConfig; ep != nil {
		switch {
		case len(ep.Aliases) > 0:
			return badRequest("network connect: aliases are not served (a container is named by its ID on a network)")
		case len(ep.Links) > 0:
			return badRequest("network connect: links are not served")
		case ep.IPAMConfig != nil && (ep.IPAMConfig.IPv4Address.IsValid() || ep.IPAMConfig.IPv6Address.IsValid() || len(ep.IPAMConfig.LinkLocalIPs) > 0):
			return badRequest("network connect: a fixed address is not served (the network's IPAM picks one)")
		case ep.IPAddress.IsValid() || ep.MacAddress.String() != "" || len(ep.DriverOpts) > 0:
			return badRequest("network connect: an endpoint's address, MAC address or driver options are not served")
		}
	}
	return s.networkConnection(w, r, req.Container, s.sup.Connect)
}

// networkDisconnect disconnects a container from a network it was
// connected to (Supervisor.Disconnect); Force changes nothing.
func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) error {
	var req network.DisconnectRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	return s.networkConnection(w, r, req.Container, s.sup.Disconnect)
}

func (s *Server) networkConnection(w http.ResponseWriter, r *http.Request, ref string, do func(context.Context, string, string) (vigil.State, error)) error {
	name := r.PathValue("id")
	if _, ok := builtin[name]; ok {
		return badRequest("container cannot be connected to or disconnected from network %q: it is a network mode, chosen at create", name)
	}
	if ref == "" {
		return badRequest("the body names no container")
	}
	if _, err := s.sup.InspectNetwork(r.Context(), name); err != nil {
		if errdefs.IsNotFound(err) {
			return errdefs.ErrNotFound.WithMessage("network " + name + " not found")
		}
		return err
	}
	id, err := s.resolve(r.Context(), ref)
	if err != nil {
		return err
	}
	if _, err := do(r.Context(), id, name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// Volumes: vigil has none (a container's mounts are bind mounts of host
// paths). The list is empty and every name is unknown, so that clients
// that look a name up in every kind of object (docker inspect) get their
// "no such object".

func (s *Server) volumeList(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, volume.ListResponse{Volumes: []volume.Volume{}, Warnings: []string{}})
	return nil
}

func (s *Server) volumeInspect(w http.ResponseWriter, r *http.Request) error {
	return errdefs.ErrNotFound.WithMessage("get " + r.PathValue("name") + ": no such volume (vigil has no volumes: use bind mounts)")
}

// Plugins: vigil has none; the list is empty and every name unknown (docker
// inspect looks a name up among plugins too).

func (s *Server) pluginList(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, []struct{}{})
	return nil
}

func (s *Server) pluginInspect(w http.ResponseWriter, r *http.Request) error {
	return errdefs.ErrNotFound.WithMessage("plugin \"" + r.PathValue("name") + "\" not found (vigil has no plugins)")
}
