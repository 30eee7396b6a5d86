package main

// proc.go: the server's memory and CPU time, read from /proc (Linux).

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procRSS is a process's resident memory in KiB, from /proc/PID/status.
func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// procCPU is a process's user plus system CPU time, from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ") // the command name may hold spaces
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks: 100 a second on Linux
}

// peakRSS samples a process's resident memory every 100 ms until done is
// closed, and once more then, or until limit has passed, and returns the
// most it saw, or from if that is more.
func peakRSS(pid int, from int64, done <-chan struct{}, limit time.Duration) int64 {
	peak := from
	for end := time.Now().Add(limit); time.Now().Before(end); {
		select {
		case <-done:
			return max(peak, procRSS(pid))
		case <-time.After(100 * time.Millisecond):
		}
		peak = max(peak, procRSS(pid))
	}
	return peak
}
