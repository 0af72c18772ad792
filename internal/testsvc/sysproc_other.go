//go:build !linux

package testsvc

import "syscall"

// sysProcAttr runs a server as cred's user (nil: the current one) in its own process group. Only
// Linux has a parent-death signal; elsewhere a killed test binary can leave its servers running.
func sysProcAttr(cred *syscall.Credential, _ syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
