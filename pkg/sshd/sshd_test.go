package sshd_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"

	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/shell/shelltest"
	"github.com/passgate/passgate/pkg/sshd"
)

// The tests drive the server with the real OpenSSH client (Debian package
// openssh-client, installed by `make deps`); without it they fail, never skip.
func requireSSH(t *testing.T) string {
	t.Helper()
	if err := sysdeps.Require(sysdeps.SSH); err != nil {
		t.Fatalf("these tests drive the server with the OpenSSH client: %v", err)
	}
	p, _ := exec.LookPath(sysdeps.SSH.Bin)
	return p
}

type logBuf struct {
	mu sync.Mutex
	l  []string
}

func (l *logBuf) logf(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, fmt.Sprintf(format, a...))
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.l, "\n")
}

// clientKey is a key pair for the client, with its private key in an
// OpenSSH key file.
type clientKey struct {
	signer     ssh.Signer
	file       string
	authorized string // authorized_keys line
}

func newClientKey(t *testing.T, dir, name string) clientKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " " + name + "@test"
	return clientKey{signer: signer, file: file, authorized: line}
}

type rig struct {
	t        *testing.T
	dir      string // client files
	keyDir   string // server host key
	router   *shelltest.Router
	sh       *shell.Shell
	srv      *sshd.Server
	addr     string
	port     string
	key      clientKey // authorized
	log      logBuf
	failures []string
	fmu      sync.Mutex
	cancel   context.CancelFunc
	done     chan error
	tune     func(*sshd.Options) // changes the server's options (nil: none)
}

// newRig starts a server on 127.0.0.1 with a random port. edit changes
// the configuration before the router starts.
func newRig(t *testing.T, edit func(c *config.Config, key clientKey)) *rig {
	return newRigWith(t, edit, nil)
}

// newRigWith is newRig with the server's options changed by tune.
func newRigWith(t *testing.T, edit func(c *config.Config, key clientKey), tune func(*sshd.Options)) *rig {
	r := &rig{t: t, dir: t.TempDir(), keyDir: t.TempDir(), tune: tune}
	r.key = newClientKey(t, r.dir, "id_admin")
	cfg := config.Default()
	if err := cfg.Set([]string{"service", "ssh", "authorized-key", "laptop", r.key.authorized}); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg, r.key)
	}
	clock := shelltest.NewClock(time.Now())
	st := config.NewStore(t.TempDir())
	var err error
	r.router, err = shelltest.NewRouter(st, cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	r.sh = shell.New(r.router, shell.Options{Clock: clock})
	r.start("127.0.0.1:0")
	t.Cleanup(r.stop)
	return r
}

func (r *rig) start(listen string) {
	t := r.t
	var err error
	o := sshd.Options{
		Shell: r.sh, Config: r.router.Config, HostKeyDir: r.keyDir, Logf: r.log.logf,
		OnLoginFailure: func(remote net.Addr, user, reason string) {
			r.fmu.Lock()
			r.failures = append(r.failures, user+": "+reason)
			r.fmu.Unlock()
		},
		FailDelay: 10 * time.Millisecond, MaxFailDelay: 50 * time.Millisecond,
	}
	if r.tune != nil {
		r.tune(&o)
	}
	r.srv, err = sshd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	_, r.port, _ = net.SplitHostPort(r.addr)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.done = make(chan error, 1)
	go func() { r.done <- r.srv.Serve(ctx, ln) }()
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.t.Error("the server did not stop")
	}
	r.cancel = nil
}

func (r *rig) loginFailures() []string {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	return append([]string(nil), r.failures...)
}

// sshArgs are the options of every client run: nothing from the user's
// configuration, agent or files; known hosts in the test directory under
// a fixed alias (so that the port does not matter).
func (r *rig) sshArgs(extra ...string) []string {
	args := []string{
		"-F", "/dev/null",
		"-o", "UserKnownHostsFile=" + filepath.Join(r.dir, "known_hosts"),
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "HostKeyAlias=passgate-test",
		"-o", "IdentityAgent=none",
		"-o", "IdentitiesOnly=yes",
		"-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR",
		"-p", r.port,
	}
	return append(args, extra...)
}

// runSSH runs the OpenSSH client; it returns stdout, stderr and the exit
// code.
func (r *rig) runSSH(stdin string, env []string, args ...string) (string, string, int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireSSH(r.t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		r.t.Fatalf("ssh: %v", err)
	}
	return stdout.String(), stderr.String(), code
}

// keyArgs log in as admin with key k, accepting the host key the first
// time.
func (r *rig) keyArgs(k clientKey, extra ...string) []string {
	return r.sshArgs(append([]string{
		"-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=accept-new",
		"-o", "PasswordAuthentication=no",
		"-o", "KbdInteractiveAuthentication=no",
		"-i", k.file,
		"admin@127.0.0.1",
	}, extra...)...)
}

func TestExecWithKey(t *testing.T) {
	requireSSH(t)
	r := newRig(t, nil)
	out, errOut, code := r.runSSH("", nil, r.keyArgs(r.key, "show system")...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s\nserver log:\n%s", code, errOut, r.log.String())
	}
	if !strings.Contains(out, "Hostname   passgate\n") || !strings.Contains(out, "Board      qemu-arm64\n") {
		t.Errorf("show system:\n%s", out)
	}
	if strings.Contains(out, "\r") {
		t.Errorf("exec without a pty wrote CR:\n%q", out)
	}
	// A script of commands in one exec, and the exit status of a failure.
	out, _, code = r.runSSH("", nil, r.keyArgs(r.key, "configure; set nat timeout udp 5x; commit")...)
	if code != 1 || !strings.Contains(out, "^\n") || !strings.Contains(out, `"5x" is not a duration`) {
		t.Errorf("failing command: exit %d, output:\n%s", code, out)
	}
	out, _, code = r.runSSH("", nil, r.keyArgs(r.key, "configure; set passthrough pptp disable; commit")...)
	if code != 0 || !strings.Contains(out, "pptp passthrough disabled") || r.router.Config().Passthrough.PPTP {
		t.Errorf("commit over exec: exit %d, output:\n%s", code, out)
	}
	// Commands piped to a shell without a pty run as a script.
	out, _, code = r.runSSH("show configuration commands passthrough\nshow nat sessions protocol tcp\n", nil, r.keyArgs(r.key, "-T")...)
	if code != 0 || !strings.Contains(out, "set passthrough pptp disable\n") || !strings.Contains(out, "198.51.100.7:443") {
		t.Errorf("piped script: exit %d, output:\n%s", code, out)
	}
	// Ctrl-C stops a long command of an exec with a pty.
	start := time.Now()
	out, _, code = r.runSSH("\x03", nil, r.keyArgs(r.key, "-tt", "ping blackhole")...)
	if !strings.Contains(out, "PING blackhole") || time.Since(start) > 8*time.Second {
		t.Errorf("Ctrl-C did not stop ping: exit %d after %v, output %q", code, time.Since(start), out)
	}
	if !strings.Contains(r.log.String(), "logged in (key laptop)") {
		t.Errorf("login not logged:\n%s", r.log.String())
	}
}

func TestInteractiveWithPTY(t *testing.T) {
	requireSSH(t)
	r := newRig(t, nil)
	input := "show system\nsh int\nconfigure\nset nat hairpin disable\ncompare\ncommit\nexit\nexit\n"
	out, errOut, code := r.runSSH(input, nil, r.keyArgs(r.key, "-tt")...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%q\nstderr:\n%s\nlog:\n%s", code, out, errOut, r.log.String())
	}
	out = strings.ReplaceAll(out, "\x1b[K", "") // the line editor's "erase to end of line"
	for _, want := range []string{
		"passgate> show system\r\n", "Uptime", "passgate> sh int\r\n", "52:54:00:12:34:56",
		"passgate# set nat hairpin disable\r\n", "+ set nat hairpin disable\r\n", "Commit complete.\r\n",
		"Leaving configuration mode.\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the session did not show %q; it showed:\n%q", want, out)
		}
	}
	if r.router.Config().NAT.Hairpin {
		t.Errorf("the commit was not applied")
	}
	if strings.Contains(out, "\x1b[31m") {
		t.Errorf("colour without a colour terminal")
	}
}

func TestWrongKeyRefused(t *testing.T) {
	requireSSH(t)
	r := newRig(t, nil)
	other := newClientKey(t, r.dir, "id_other")
	out, errOut, code := r.runSSH("", nil, r.keyArgs(other, "show system")...)
	if code != 255 || !strings.Contains(errOut, "Permission denied (publickey)") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	if strings.Contains(out, "Hostname") {
		t.Errorf("a command ran")
	}
	// Another user name with the right key is refused too.
	args := r.sshArgs("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new", "-i", r.key.file, "root@127.0.0.1", "show system")
	if _, errOut, code := r.runSSH("", nil, args...); code != 255 || !strings.Contains(errOut, "Permission denied") {
		t.Errorf("user root: exit %d, stderr:\n%s", code, errOut)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.loginFailures()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	f := strings.Join(r.loginFailures(), "\n")
	if !strings.Contains(f, "public key not authorized") || !strings.Contains(f, `user "root"`) {
		t.Errorf("failures reported: %q", f)
	}
}

// askpass makes the OpenSSH client type password (SSH_ASKPASS_REQUIRE
// needs OpenSSH 8.4; bookworm has 9.2).
func (r *rig) askpass(password string) []string {
	file := filepath.Join(r.dir, "askpass-"+fmt.Sprint(len(password)))
	script := "#!/bin/sh\nprintf '%s\\n' '" + strings.ReplaceAll(password, "'", `'\''`) + "'\n"
	if err := os.WriteFile(file, []byte(script), 0o700); err != nil {
		r.t.Fatal(err)
	}
	return []string{"SSH_ASKPASS=" + file, "SSH_ASKPASS_REQUIRE=force", "DISPLAY="}
}

func (r *rig) passwordArgs(extra ...string) []string {
	return r.sshArgs(append([]string{
		"-o", "StrictHostKeyChecking=accept-new",
		"-o", "PreferredAuthentications=password",
		"-o", "PubkeyAuthentication=no",
		"-o", "NumberOfPasswordPrompts=1",
		"admin@127.0.0.1",
	}, extra...)...)
}

func goClient(addr string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User: "admin", Auth: auth, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
	})
}

func TestPasswordRefusedWithoutHash(t *testing.T) {
	requireSSH(t)
	r := newRig(t, nil)
	_, errOut, code := r.runSSH("", r.askpass("admin"), r.passwordArgs("show system")...)
	// The server does not even offer the password method.
	if code != 255 || !strings.Contains(errOut, "Permission denied (publickey)") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	for _, pw := range []string{"", "admin", "passgate", "password"} {
		if c, err := goClient(r.addr, ssh.Password(pw)); err == nil {
			c.Close()
			t.Errorf("password %q accepted with no password hash configured", pw)
		}
	}
}

const (
	testPassword = "correct horse battery staple"
	testHash     = "$6$passgate$9.JouSTjwIF8lYy2.mmfgq1nvjXX1z25hw2Cyp1ElxTVpOFkOSX9oHuxceZrUrEy82TCvC2RfpOpB0BQXjRCA."
)

func TestPasswordWithHash(t *testing.T) {
	requireSSH(t)
	r := newRig(t, func(c *config.Config, _ clientKey) {
		if err := c.Set([]string{"system", "admin", "password-hash", testHash}); err != nil {
			t.Fatal(err)
		}
	})
	out, errOut, code := r.runSSH("", r.askpass(testPassword), r.passwordArgs("show system")...)
	if code != 0 || !strings.Contains(out, "Hostname") {
		t.Fatalf("right password: exit %d\nstdout:\n%s\nstderr:\n%s\nlog:\n%s", code, out, errOut, r.log.String())
	}
	_, errOut, code = r.runSSH("", r.askpass("wrong"), r.passwordArgs("show system")...)
	if code != 255 || !strings.Contains(errOut, "Permission denied") {
		t.Errorf("wrong password: exit %d, stderr:\n%s", code, errOut)
	}
	// The same with Go's client, and a bcrypt hash.
	c, err := goClient(r.addr, ssh.Password(testPassword))
	if err != nil {
		t.Fatalf("x/crypto client, right password: %v", err)
	}
	c.Close()
	if c, err := goClient(r.addr, ssh.Password("Correct horse battery staple")); err == nil {
		c.Close()
		t.Errorf("x/crypto client: wrong password accepted")
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("bcrypt pw"), bcrypt.MinCost)
	var out2 bytes.Buffer
	if err := r.sh.Run(context.Background(), "configure; set system admin password-hash "+config.Quote("$2y$"+string(h[4:]))+"; commit", &out2); err != nil {
		t.Fatalf("setting a bcrypt hash: %v\n%s", err, out2.String())
	}
	if c, err := goClient(r.addr, ssh.Password("bcrypt pw")); err != nil {
		t.Errorf("bcrypt $2y$ password: %v", err)
	} else {
		c.Close()
	}
	// yescrypt (mkpasswd's default; -R 1 here, to be quick) and SHA-256
	// crypt: fixed vectors made by Debian's mkpasswd (pkg/passhash).
	for _, h := range []string{
		"$y$j75$4Ii0Net8lO7GXeAviDmPx/$CsXawhaduFcNbfizJBnCUL1u2Lock4qbkfzOpev73M6",
		"$5$passgate5salt$y0DOOC13c41plXNAmVjCnDsnuqCFCcMe3DWjqfxPWy8",
	} {
		out2.Reset()
		if err := r.sh.Run(context.Background(), "configure; set system admin password-hash "+config.Quote(h)+"; commit", &out2); err != nil {
			t.Fatalf("setting %s: %v\n%s", h[:3], err, out2.String())
		}
		out, errOut, code := r.runSSH("", r.askpass(testPassword), r.passwordArgs("show system")...)
		if code != 0 || !strings.Contains(out, "Hostname") {
			t.Errorf("%s hash, right password: exit %d\n%s", h[:3], code, errOut)
		}
		if c, err := goClient(r.addr, ssh.Password(testPassword+"!")); err == nil {
			c.Close()
			t.Errorf("%s hash: a wrong password was accepted", h[:3])
		}
	}
	if !strings.Contains(strings.Join(r.loginFailures(), "\n"), "wrong password") {
		t.Errorf("wrong passwords not reported: %q", r.loginFailures())
	}
}

func TestHostKeyPersists(t *testing.T) {
	requireSSH(t)
	r := newRig(t, nil)
	fp := r.srv.Fingerprint()
	if _, errOut, code := r.runSSH("", nil, r.keyArgs(r.key, "show system")...); code != 0 {
		t.Fatalf("first login: %d %s", code, errOut)
	}
	// ssh-keygen agrees on the key in the file.
	kg, err := exec.Command(filepath.Join(filepath.Dir(requireSSH(t)), "ssh-keygen"), "-l", "-f", filepath.Join(r.keyDir, sshd.HostKeyFile)).CombinedOutput()
	if err != nil || !strings.Contains(string(kg), fp) {
		t.Errorf("ssh-keygen -l: %v %s (want %s)", err, kg, fp)
	}
	info, err := os.Stat(filepath.Join(r.keyDir, sshd.HostKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("host key file: %v mode %v", err, info.Mode())
	}
	r.stop()
	r.start("127.0.0.1:0") // a new server, same key directory
	if got := r.srv.Fingerprint(); got != fp {
		t.Fatalf("host key changed across restarts: %s, then %s", fp, got)
	}
	args := r.sshArgs("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-i", r.key.file, "admin@127.0.0.1", "show system")
	if _, errOut, code := r.runSSH("", nil, args...); code != 0 {
		t.Fatalf("the client no longer trusts the restarted server: exit %d\n%s", code, errOut)
	}
	// A different key directory is a different host: the strict client refuses.
	r.stop()
	r.keyDir = t.TempDir()
	r.start("127.0.0.1:0")
	args = r.sshArgs("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-i", r.key.file, "admin@127.0.0.1", "show system")
	if _, errOut, code := r.runSSH("", nil, args...); code != 255 || !strings.Contains(errOut, "IDENTIFICATION HAS CHANGED") {
		t.Errorf("a new host key was not noticed: exit %d\n%s", code, errOut)
	}
}

func TestConcurrentSessions(t *testing.T) {
	requireSSH(t)
	r := newRig(t, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := fmt.Sprintf("configure; set nat port-forward f%d protocol tcp port %d to 192.168.1.%d; commit", i, 9000+i, 20+i)
			out, errOut, code := r.runSSH("", nil, r.keyArgs(r.key, cmd)...)
			if code != 0 {
				errs <- fmt.Sprintf("session %d: exit %d\n%s%s", i, code, out, errOut)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := len(r.router.Config().NAT.PortForwards); n != 4 {
		t.Errorf("%d port forwards after 4 concurrent commits", n)
	}
}

func TestNoForwarding(t *testing.T) {
	r := newRig(t, nil)
	c, err := goClient(r.addr, ssh.PublicKeys(r.key.signer))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if conn, err := c.Dial("tcp", r.addr); err == nil {
		conn.Close()
		t.Error("direct-tcpip channel accepted")
	}
	if ln, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
		t.Error("remote forwarding accepted")
	}
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestSubsystem("sftp"); err == nil {
		t.Error("sftp subsystem accepted")
	}
}

// After the free failures, attempts from the same address are spaced out.
func TestRateLimit(t *testing.T) {
	r := newRig(t, func(c *config.Config, _ clientKey) {
		c.Set([]string{"system", "admin", "password-hash", testHash})
	})
	r.stop()
	var err error
	r.srv, err = sshd.New(sshd.Options{Shell: r.sh, Config: r.router.Config, HostKeyDir: r.keyDir, Logf: r.log.logf,
		FreeFailures: 2, FailDelay: 300 * time.Millisecond, MaxFailDelay: time.Second,
		// The penalties would shut the address out after three failed
		// connections (TestPenalties); this test is about the delays.
		Penalties: sshd.Penalties{Min: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.srv.Serve(ctx, ln)
	try := func(pw string) (time.Duration, error) {
		start := time.Now()
		c, err := goClient(ln.Addr().String(), ssh.Password(pw))
		if err == nil {
			c.Close()
		}
		return time.Since(start), err
	}
	// Only lower bounds are asserted: an upper bound on wall-clock time
	// fails on a loaded machine. That a success clears the count and that
	// free failures are not delayed is tested with a fake clock
	// (TestLimiter*).
	for i := 0; i < 2; i++ {
		if _, err := try("bad"); err == nil {
			t.Fatalf("free failure %d: wrong password accepted", i)
		}
	}
	d1, _ := try("bad")
	d2, _ := try("bad")
	if d1 < 250*time.Millisecond || d2 < 500*time.Millisecond {
		t.Errorf("attempts after the free failures took %v and %v; want at least 300ms and 600ms", d1, d2)
	}
	// The right password still works (after its turn).
	if _, err := try(testPassword); err != nil {
		t.Errorf("right password after failures: %v", err)
	}
	if _, err := try(testPassword); err != nil {
		t.Errorf("after a success: %v", err)
	}
}

// Defect 10 of issue 12: a damaged host key used to disable SSH. Now the
// server starts with a new key, logs it with its fingerprint, and clients
// see a changed host key (as they must).
func TestServerWithDamagedHostKeyServes(t *testing.T) {
	requireSSH(t)
	r := newRig(t, nil)
	if _, errOut, code := r.runSSH("", nil, r.keyArgs(r.key, "show system")...); code != 0 {
		t.Fatalf("first login: %d %s", code, errOut)
	}
	old := r.srv.Fingerprint()
	r.stop()
	if err := os.WriteFile(filepath.Join(r.keyDir, sshd.HostKeyFile), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start("127.0.0.1:0")
	fp := r.srv.Fingerprint()
	if fp == old {
		t.Fatal("same key after the damage")
	}
	log := r.log.String()
	if !strings.Contains(log, "ssh: WARNING: host key "+filepath.Join(r.keyDir, sshd.HostKeyFile)+" is damaged") || !strings.Contains(log, "made a new host key "+fp) {
		t.Errorf("the replacement is not logged with its fingerprint:\n%s", log)
	}
	if !strings.Contains(r.srv.HostKeyInfo(), "ssh-ed25519 "+fp) {
		t.Errorf("HostKeyInfo %q", r.srv.HostKeyInfo())
	}
	args := r.sshArgs("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-i", r.key.file, "admin@127.0.0.1", "show system")
	if _, errOut, code := r.runSSH("", nil, args...); code != 255 || !strings.Contains(errOut, "IDENTIFICATION HAS CHANGED") {
		t.Errorf("the client was not told the host key changed: exit %d\n%s", code, errOut)
	}
	os.Remove(filepath.Join(r.dir, "known_hosts"))
	if out, errOut, code := r.runSSH("", nil, r.keyArgs(r.key, "show system")...); code != 0 || !strings.Contains(out, "Hostname") {
		t.Errorf("login with the new key: exit %d\n%s", code, errOut)
	}
}
