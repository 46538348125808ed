//go:build unix && !linux

package pglocal

import "syscall"

// serverProcAttr runs the server as cred (nil: as us) in a process group of
// its own. Only Linux can tie the server's life to ours (Pdeathsig): on
// other systems a server whose parent was killed outright keeps running
// until stopped (pg_ctl stop -D DIR/pgdata); Stop and a normal exit stop it.
func serverProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
