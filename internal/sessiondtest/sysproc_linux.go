package sessiondtest

import "syscall"

// sysProcAttr puts sessiond in a process group of its own and has the kernel
// kill it if the test binary dies first (a test timeout, say), so that no
// sessiond outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
