// Package api holds the types of vigil's HTTP API (docs/API.md): the
// bodies of requests and answers, and the one mapping between error
// classes and HTTP statuses.
//
// These types are a contract of their own. They are not the journal's
// snapshot format nor the supervisor's in-memory state: ContainerOf
// converts a lifecycle.State explicitly and publishes only what users need
// (no backoff step, no pending signal). A field renamed inside the
// supervisor does not change the wire, and a wire field is added here on
// purpose.
//
// The one type shared with the lifecycle is lifecycle.Config, what a
// container is created from: the API takes it as is (CreateRequest), the
// journal records it, and package c8dbridge builds the spec from it, so a
// configuration field is written down once.
//
// Errors: every error of vigil carries a class of containerd's errdefs
// package. CodeOf names the class of an error (Code), Code.Status gives
// its HTTP status, and an error answer's body (Error) carries both the
// message and the code. A client turns the answer back into an error of
// the same class with Error.Err, so that errdefs.IsNotFound and its kin
// work on both sides of the socket. Nobody branches on message text.
//
// The package does no I/O and imports neither containerd's client nor the
// supervisor's engine; package client and any harness may import it.
package api
