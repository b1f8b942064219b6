// Package dockerapi serves a subset of the Docker Engine API (the wire
// types of github.com/moby/moby/api) over the facade, so that the docker
// CLI, the Docker SDKs and testcontainers drive vigil unchanged. The daemon
// serves it on --docker-socket (docs/DOCKER-API.md lists the endpoints and
// the fields honoured).
//
// It owns the translation between docker's words and vigil's: container
// names and ID prefixes to vigil IDs, docker's create body to a
// vigil.ContainerConfig, vigil's State to docker's inspect and list bodies,
// the journaled events to docker's event messages, the log records to
// docker's multiplexed stream, and docker's two-step exec (create, then
// start) to one vigil.Exec.
//
// It never decides or does anything itself: every call that changes a
// container goes through the same facade method as vigil's own API, so it
// is journaled the same way and a container made through either API shows
// in both. What only it keeps is in memory and may be lost with the
// daemon: the exec IDs of docker's exec create (an exec's start and exit
// are journaled by the engine all the same) and the "remove once the
// output is read" mark of a foreground run --rm (see wait).
//
// Anything it does not serve answers 501 with a message naming the
// endpoint.
package dockerapi
