package testsvc

import "syscall"

// sysProcAttr runs a server as cred's user (nil: the current one) in its own process group, so
// that a Ctrl-C meant for the test binary does not reach it first, with deathSig sent by the kernel
// if the test binary dies without stopping it. Go sets the parent-death signal after changing
// credentials, which would otherwise clear it.
func sysProcAttr(cred *syscall.Credential, deathSig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: deathSig}
}
