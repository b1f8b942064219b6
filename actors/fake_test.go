package actors

import "github.com/vigilhq/vigil/c8dbridge/runtimetest"

// The actors' unit tests run on runtimetest.Fake, an in-memory containerd
// that keeps the Runtime contract.
type fakeRuntime = runtimetest.Fake

func newFakeRuntime() *fakeRuntime { return runtimetest.NewFake() }
