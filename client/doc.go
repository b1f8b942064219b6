// Package client is the Go client of the vigil daemon's HTTP API (its
// unix socket; docs/API.md), as the CLI uses it and a test harness may.
// Requests and answers are the types of package api.
//
// Errors: an error answer comes back as an *api.StatusError, which
// unwraps to the errdefs class of its code: test it with
// errdefs.IsNotFound(err), errdefs.IsConflict and their kin, or by its
// Code (api.CodeCommandNotFound...), never by its message. A daemon that
// cannot be reached gives an error of the Unavailable class.
//
// The streams of exec and attach (one upgraded connection carrying
// stdin, output and the exit) are opened with Send and a prepare function
// that asks for the upgrade; see cmd/supervisor for the terminal side.
package client
