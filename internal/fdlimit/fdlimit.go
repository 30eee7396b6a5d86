// Package fdlimit raises a process's open-file limit, for the tools that
// hold as many connections as the server they measure (cmd/load,
// cmd/tcpecho).
package fdlimit

import (
	"fmt"
	"syscall"
)

// Raise lifts the soft open-file limit to the hard one and says what it got.
func Raise() string {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err.Error()
	}
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return fmt.Sprintf("soft limit %d (hard %d)", rl.Cur, rl.Max)
}
