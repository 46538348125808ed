package pglocal

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure Start.
type Options struct {
	// Dir holds the cluster (Dir/pgdata), its password (Dir/password) and
	// its log (Dir/postgres.log). It is created when missing. Required.
	Dir string
	// BinDir holds initdb and postgres; empty means FindBinDir.
	BinDir string
	// Port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// User is the superuser's name; empty means "postgres".
	User string
	// Settings are extra server settings (name → value), such as
	// {"fsync": "off"} for throwaway test clusters.
	Settings map[string]string
	// StartTimeout bounds the wait for the server to accept connections;
	// zero means one minute.
	StartTimeout time.Duration
}

// Instance is a running server started by Start.
type Instance struct {
	host     string
	port     int
	user     string
	password string
	dir      string
	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// FindBinDir locates the PostgreSQL server binaries: `pg_config --bindir`,
// then initdb on PATH, then the newest /usr/lib/postgresql/*/bin. It
// returns an error naming the places it looked when none has both initdb
// and postgres.
func FindBinDir() (string, error) {
	var tried []string
	ok := func(dir string) bool {
		tried = append(tried, dir)
		return isExec(filepath.Join(dir, "initdb")) && isExec(filepath.Join(dir, "postgres"))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); ok(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); ok(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		if ok(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("pglocal: no PostgreSQL server binaries (initdb and postgres) found; looked in pg_config --bindir, PATH and /usr/lib/postgresql/*/bin %v; install Debian's postgresql package", tried)
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start initializes the cluster in opts.Dir when it is new, starts the
// server and waits until it accepts connections. The caller must Stop it.
func Start(ctx context.Context, opts Options) (*Instance, error) {
	if opts.Dir == "" {
		return nil, errors.New("pglocal: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("pglocal: data dir: %w", err)
	}
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	if opts.User == "" {
		opts.User = "postgres"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = time.Minute
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pglocal: create %s: %w", dir, err)
	}
	if cred != nil {
		if err := reachable(dir); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pglocal: chown %s: %w", dir, err)
		}
	}
	password, err := loadOrCreatePassword(filepath.Join(dir, "password"))
	if err != nil {
		return nil, err
	}
	pgdata := filepath.Join(dir, "pgdata")
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initdb(ctx, binDir, dir, pgdata, opts.User, password, cred); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("pglocal: %w", err)
	}
	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	args := []string{"-D", pgdata, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="}
	names := make([]string, 0, len(opts.Settings))
	for k := range opts.Settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "-c", k+"="+opts.Settings[k])
	}
	logf, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pglocal: log file: %w", err)
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = serverProcAttr(cred)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("pglocal: start postgres: %w", err)
	}
	inst := &Instance{host: "127.0.0.1", port: port, user: opts.User, password: password,
		dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		inst.waitErr = cmd.Wait()
		logf.Close()
		close(inst.done)
	}()
	if err := inst.waitReady(ctx, opts.StartTimeout); err != nil {
		inst.Stop()
		return nil, fmt.Errorf("%w\n%s", err, tail(filepath.Join(dir, "postgres.log"), 20))
	}
	return inst, nil
}

// waitReady polls the port until the server answers a startup message.
func (i *Instance) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-i.done:
			return fmt.Errorf("pglocal: postgres exited during start-up: %v", i.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("pglocal: waiting for postgres: %w", ctx.Err())
		default:
		}
		if ready(i.host, i.port) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pglocal: postgres did not accept connections within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready sends a PostgreSQL startup message and reports whether the server
// answers with an authentication request ('R'). While the server is still
// starting it refuses the connection or answers with an error ('E': "the
// database system is starting up").
func ready(host string, port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	body := []byte{0, 3, 0, 0} // protocol 3.0
	body = append(body, "user\x00postgres\x00database\x00postgres\x00\x00"...)
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(body)+4))
	if _, err := c.Write(append(msg, body...)); err != nil {
		return false
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		return false
	}
	return b[0] == 'R'
}

// URL returns a connection URL for database db as the superuser.
func (i *Instance) URL(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(i.user, i.password),
		Host: net.JoinHostPort(i.host, strconv.Itoa(i.port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (i *Instance) Port() int { return i.port }

// Dir returns the instance's directory.
func (i *Instance) Dir() string { return i.dir }

// Stop shuts the server down (fast shutdown) and waits for it to exit. It
// is safe to call more than once.
func (i *Instance) Stop() error {
	i.stopOnce.Do(func() {
		_ = i.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-i.done:
		case <-time.After(30 * time.Second):
			_ = i.cmd.Process.Kill()
			<-i.done
			i.stopErr = errors.New("pglocal: postgres did not stop within 30s; killed")
		}
	})
	return i.stopErr
}

// Done is closed when the server process has exited.
func (i *Instance) Done() <-chan struct{} { return i.done }

func initdb(ctx context.Context, binDir, dir, pgdata, superuser, password string, cred *syscall.Credential) error {
	pwfile := filepath.Join(dir, "initdb.pw")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	defer os.Remove(pwfile)
	if cred != nil {
		if err := os.Chown(pwfile, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"), "-D", pgdata, "-U", superuser,
		"--pwfile", pwfile, "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pglocal: initdb %s: %w\n%s", pgdata, err, lastLines(string(out), 20))
	}
	return nil
}

// serverCredential returns nil when we are not root, else the account the
// server runs as: postgres when it exists, else nobody.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("pglocal: running as root and neither a postgres nor a nobody account exists to run the server as")
}

// reachable checks that every parent of dir can be traversed by others,
// since the unprivileged server account must reach its data directory.
func reachable(dir string) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("pglocal: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pglocal: data dir %s is not reachable by the unprivileged server account: %s is not searchable by others (choose a directory under /var/lib, /var/tmp or /tmp)", dir, p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func loadOrCreatePassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("pglocal: read password: %w", err)
	}
	raw := make([]byte, 18)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("pglocal: write password: %w", err)
	}
	return pw, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pglocal: pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return lastLines(string(b), n)
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
