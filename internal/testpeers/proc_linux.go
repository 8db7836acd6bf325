package testpeers

import "syscall"

// sysProcAttr makes the kernel SIGKILL a peer when the test binary dies
// (a panic, or go test's -timeout), so no server outlives its tests.
// Strictly, Pdeathsig follows the thread that forked the peer; the Go
// runtime ends threads only when a goroutine exits locked to one, which
// nothing in a test binary here does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
