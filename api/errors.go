package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/containerd/errdefs"
)

// Code is the machine-readable class of an error answer, the "code" field
// of its body. Most codes name an errdefs class; CommandNotFound and
// CommandNotExecutable tell apart why an exec's program could not run.
type Code string

// The codes, as docs/API.md lists them.
const (
	CodeInvalidArgument      Code = "invalid_argument"
	CodeNotFound             Code = "not_found"
	CodeAlreadyExists        Code = "already_exists"
	CodeConflict             Code = "conflict"
	CodeFailedPrecondition   Code = "failed_precondition"
	CodeMethodNotAllowed     Code = "method_not_allowed"
	CodeNotImplemented       Code = "not_implemented"
	CodeUnavailable          Code = "unavailable"
	CodeDeadlineExceeded     Code = "deadline_exceeded"
	CodeResourceExhausted    Code = "resource_exhausted"
	CodePermissionDenied     Code = "permission_denied"
	CodeUnauthenticated      Code = "unauthenticated"
	CodeDataLoss             Code = "data_loss"
	CodeInternal             Code = "internal"
	CodeUnknown              Code = "unknown"
	CodeCommandNotFound      Code = "command_not_found"
	CodeCommandNotExecutable Code = "command_not_executable"
)

// ErrMethodNotAllowed is the class of a request whose path exists but not
// with its method (405). errdefs has no such class.
var ErrMethodNotAllowed = errors.New("method not allowed")

// class is one row of the mapping: a code, the errdefs class it stands
// for, and its HTTP status.
type class struct {
	code   Code
	err    error
	status int
}

// classes is the one mapping between error classes, codes and HTTP
// statuses. A failed precondition (the request does not fit the container's
// state) is answered 409, as docker answers it.
var classes = []class{
	{CodeInvalidArgument, errdefs.ErrInvalidArgument, http.StatusBadRequest},
	{CodeNotFound, errdefs.ErrNotFound, http.StatusNotFound},
	{CodeAlreadyExists, errdefs.ErrAlreadyExists, http.StatusConflict},
	{CodeConflict, errdefs.ErrConflict, http.StatusConflict},
	{CodeFailedPrecondition, errdefs.ErrFailedPrecondition, http.StatusConflict},
	{CodeMethodNotAllowed, ErrMethodNotAllowed, http.StatusMethodNotAllowed},
	{CodeNotImplemented, errdefs.ErrNotImplemented, http.StatusNotImplemented},
	{CodeUnavailable, errdefs.ErrUnavailable, http.StatusServiceUnavailable},
	{CodeDeadlineExceeded, context.DeadlineExceeded, http.StatusGatewayTimeout},
	{CodeResourceExhausted, errdefs.ErrResourceExhausted, http.StatusTooManyRequests},
	{CodePermissionDenied, errdefs.ErrPermissionDenied, http.StatusForbidden},
	{CodeUnauthenticated, errdefs.ErrUnauthenticated, http.StatusUnauthorized},
	{CodeDataLoss, errdefs.ErrDataLoss, http.StatusInternalServerError},
	{CodeInternal, errdefs.ErrInternal, http.StatusInternalServerError},
}

// CodeOf returns the code of err's class; CodeUnknown for an error without
// one, "" for nil. The class of an error is that of the first classed error
// met walking its chain depth-first, left to right: the outermost, which
// says best what went wrong. So an error built as
// fmt.Errorf("%w: task is gone: %w", lifecycle.ErrInvalidTransition, notFound)
// is a failed precondition, not a not-found.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	if c := codeOf(err); c != "" {
		return c
	}
	return CodeUnknown
}

// codeOf walks err's chain; "" when no error in it has a class.
func codeOf(err error) Code {
	for _, c := range classes {
		if isOwn(err, c.err) {
			return c.code
		}
	}
	switch x := err.(type) {
	case interface{ Unwrap() error }:
		if inner := x.Unwrap(); inner != nil {
			return codeOf(inner)
		}
	case interface{ Unwrap() []error }:
		for _, inner := range x.Unwrap() {
			if c := codeOf(inner); c != "" {
				return c
			}
		}
	}
	return ""
}

// isOwn says whether err itself, not what it wraps, is of class target:
// it is target, or its Is method says so (errdefs' WithMessage values).
func isOwn(err, target error) bool {
	if err == target {
		return true
	}
	x, ok := err.(interface{ Is(error) bool })
	return ok && x.Is(target)
}

// Status is the HTTP status of an error answer with this code.
func (c Code) Status() int {
	switch c {
	case CodeCommandNotFound, CodeCommandNotExecutable:
		// The request's program cannot run: nothing was wrong with the
		// daemon, and the code says which way (exit code 127 or 126).
		return http.StatusBadRequest
	}
	if k, ok := c.row(); ok {
		return k.status
	}
	return http.StatusInternalServerError
}

// row is the row of classes for c.
func (c Code) row() (class, bool) {
	for _, k := range classes {
		if k.code == c {
			return k, true
		}
	}
	return class{}, false
}

// Class returns the errdefs class that code stands for: errdefs.ErrNotFound
// for CodeNotFound and so on; errdefs.ErrUnknown for a code it does not
// know. The exec codes have InvalidArgument's class, as their status.
func (c Code) Class() error {
	switch c {
	case CodeCommandNotFound, CodeCommandNotExecutable:
		return errdefs.ErrInvalidArgument
	}
	if k, ok := c.row(); ok {
		return k.err
	}
	return errdefs.ErrUnknown
}

// CodeFromStatus is the code of an error answer without one (not sent by
// vigil, e.g. by a proxy): the class its HTTP status stands for.
func CodeFromStatus(status int) Code {
	switch status {
	case http.StatusBadRequest:
		return CodeInvalidArgument
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusConflict:
		return CodeConflict
	case http.StatusPreconditionFailed:
		return CodeFailedPrecondition
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusNotImplemented:
		return CodeNotImplemented
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return CodeUnavailable
	case http.StatusGatewayTimeout:
		return CodeDeadlineExceeded
	case http.StatusTooManyRequests:
		return CodeResourceExhausted
	case http.StatusForbidden:
		return CodePermissionDenied
	case http.StatusUnauthorized:
		return CodeUnauthenticated
	case http.StatusInternalServerError:
		return CodeInternal
	}
	return CodeUnknown
}

// Error is the body of every error answer, and of the last line of a
// stream that ended in an error.
type Error struct {
	Message string `json:"error"`
	Code    Code   `json:"code,omitempty"`
}

// ErrorOf is the body that answers err.
func ErrorOf(err error) Error {
	return Error{Message: err.Error(), Code: CodeOf(err)}
}

// Err turns an error answer back into an error of its class: the result
// is a *StatusError, and errdefs.IsNotFound and its kin hold for it as they
// did for the daemon's error. status is the answer's HTTP status (0 for a
// stream's error line).
func (e Error) Err(status int) error {
	code := e.Code
	if code == "" {
		code = CodeFromStatus(status)
	}
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("the daemon answered %d %s", status, http.StatusText(status))
	}
	return &StatusError{Status: status, Code: code, Message: msg}
}

// StatusError is an error answer of the daemon, turned back into an error:
// it unwraps to the errdefs class of its code, so it is tested with
// errdefs.IsNotFound(err) and the like, or by its Code.
type StatusError struct {
	Status  int    // the HTTP status; 0 for a stream's error line
	Code    Code   // the machine-readable class
	Message string // the daemon's message
}

func (e *StatusError) Error() string { return e.Message }

// Unwrap returns the errdefs class of the error's code.
func (e *StatusError) Unwrap() error { return e.Code.Class() }
