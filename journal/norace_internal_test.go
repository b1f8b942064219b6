//go:build !race

package journal

// raceEnabled says that the tests run with the race detector.
const raceEnabled = false
