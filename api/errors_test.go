package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil/api"
)

// TestClasses: each class has its code and status, and an answer turned
// back into an error is of the same class.
func TestClasses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		code   api.Code
		status int
		is     func(error) bool
	}{
		{"not found", errdefs.ErrNotFound.WithMessage("no such container"), api.CodeNotFound, http.StatusNotFound, errdefs.IsNotFound},
		{"already exists", errdefs.ErrAlreadyExists, api.CodeAlreadyExists, http.StatusConflict, errdefs.IsAlreadyExists},
		{"conflict", errdefs.ErrConflict, api.CodeConflict, http.StatusConflict, errdefs.IsConflict},
		{"failed precondition", errdefs.ErrFailedPrecondition, api.CodeFailedPrecondition, http.StatusConflict, errdefs.IsFailedPrecondition},
		{"invalid argument", errdefs.ErrInvalidArgument, api.CodeInvalidArgument, http.StatusBadRequest, errdefs.IsInvalidArgument},
		{"unavailable", errdefs.ErrUnavailable, api.CodeUnavailable, http.StatusServiceUnavailable, errdefs.IsUnavailable},
		{"not implemented", errdefs.ErrNotImplemented, api.CodeNotImplemented, http.StatusNotImplemented, errdefs.IsNotImplemented},
		{"deadline", context.DeadlineExceeded, api.CodeDeadlineExceeded, http.StatusGatewayTimeout, errdefs.IsDeadlineExceeded},
		{"data loss", errdefs.ErrDataLoss, api.CodeDataLoss, http.StatusInternalServerError, errdefs.IsDataLoss},
		{"resource exhausted", errdefs.ErrResourceExhausted, api.CodeResourceExhausted, http.StatusTooManyRequests, errdefs.IsResourceExhausted},
		{"method not allowed", api.ErrMethodNotAllowed, api.CodeMethodNotAllowed, http.StatusMethodNotAllowed,
			func(err error) bool { return errors.Is(err, api.ErrMethodNotAllowed) }},
		{"no class", errors.New("disk on fire"), api.CodeUnknown, http.StatusInternalServerError, errdefs.IsUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fmt.Errorf("context: %w", tc.err)
			code := api.CodeOf(err)
			if code != tc.code || code.Status() != tc.status {
				t.Fatalf("CodeOf = %q (status %d), want %q (%d)", code, code.Status(), tc.code, tc.status)
			}
			back := api.ErrorOf(err).Err(code.Status())
			var se *api.StatusError
			if !errors.As(back, &se) || se.Code != tc.code || se.Status != tc.status || se.Message != err.Error() {
				t.Fatalf("back from the wire: %#v", back)
			}
			if !tc.is(back) {
				t.Errorf("%v back from the wire is not of its class", back)
			}
			// A body without a code (not vigil's) is classed by its status;
			// 409 is the most general of its three classes.
			if tc.status != http.StatusConflict && tc.code != api.CodeDataLoss && tc.code != api.CodeUnknown {
				if got := api.CodeFromStatus(tc.status); got != tc.code {
					t.Errorf("CodeFromStatus(%d) = %q, want %q", tc.status, got, tc.code)
				}
			}
		})
	}
}

// TestOutermostClassWins: an error that wraps two classes has the class of
// the first one met, the outermost.
func TestOutermostClassWins(t *testing.T) {
	notRunning := errdefs.ErrFailedPrecondition.WithMessage("not running")
	for _, tc := range []struct {
		err  error
		want api.Code
	}{
		{fmt.Errorf("%w: task gone: %w", notRunning, errdefs.ErrNotFound), api.CodeFailedPrecondition},
		{fmt.Errorf("start: %w", fmt.Errorf("%w: %w", errdefs.ErrNotFound, notRunning)), api.CodeNotFound},
		{errors.Join(errors.New("plain"), errdefs.ErrUnavailable), api.CodeUnavailable},
		{nil, ""},
	} {
		if got := api.CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// TestExecCodes: the exec codes are InvalidArgument-class answers.
func TestExecCodes(t *testing.T) {
	for _, c := range []api.Code{api.CodeCommandNotFound, api.CodeCommandNotExecutable} {
		err := api.Error{Message: "exec: nope", Code: c}.Err(c.Status())
		if c.Status() != http.StatusBadRequest || !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: status %d, %v not InvalidArgument", c, c.Status(), err)
		}
	}
}
