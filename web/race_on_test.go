//go:build race

package web

// raceDetector says the race detector is on: timings are several times slower, and bounds
// meant for production are only logged.
const raceDetector = true
