//go:build !(linux || darwin || freebsd)

package main

import "os"

// terminalColumns is the width of the terminal f in columns, or 0 when it cannot be told.
func terminalColumns(f *os.File) int { return 0 }
