//go:build !linux

package sessiondtest

import "syscall"

// sysProcAttr puts sessiond in a process group of its own.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
