package main

// Commands whose packages are still being built report so plainly instead of pretending.
// Each moves to its own file (sync.go, export.go, demo.go, serve.go, digest.go) when it lands.

import "errors"

var errNotYet = errors.New("this command is not available in this build yet")

