package pglocal

import "syscall"

// serverProcAttr runs the server as cred (nil: as us) in a process group of
// its own, and makes it die with us: SIGINT on the parent's death is
// PostgreSQL's fast shutdown.
func serverProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGINT, Setpgid: true}
}
