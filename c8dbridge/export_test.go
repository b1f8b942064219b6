package c8dbridge

import "testing"

// NewTestClient is newEnv for the external tests (contract_test.go): a
// client of the test containerd in a namespace of the test's own, with
// the rootfs and the bundle root it uses.
func NewTestClient(t *testing.T) (c *Client, rootfs, bundleRoot string) {
	e := newEnv(t)
	return e.c, e.rootfs, e.bundle
}
