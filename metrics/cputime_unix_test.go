//go:build unix

package metrics

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used (user and system, all threads): on a shared
// machine it measures the work itself, where the wall clock also measures the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
