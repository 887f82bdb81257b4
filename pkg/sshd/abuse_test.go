package sshd_test

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/passgate/passgate/pkg/sshd"
)

// The attacker's tests. Distinct sources are loopback addresses: Linux
// routes all of 127.0.0.0/8 to lo, so a socket bound to 127.0.0.2 reaches
// the server on 127.0.0.1 and the server sees 127.0.0.2 as its source.

// dialFrom opens a TCP connection from the address src to addr.
func dialFrom(src, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// greeted reads what the server says first: its version line (the
// connection was taken in to log in) or nothing before the close (it was
// refused at once).
func greeted(c net.Conn) (bool, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	switch {
	case strings.HasPrefix(line, "SSH-2.0-passgate"):
		return true, nil
	case line == "" && (errors.Is(err, io.EOF) || isReset(err)):
		return false, nil
	}
	return false, fmt.Errorf("read %q, %v", line, err)
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// adminLogin logs in as the admin with the Go client from 127.0.0.1 and
// runs "show system".
func (r *rig) adminLogin() (string, error) {
	cfg := &ssh.ClientConfig{User: "admin", Auth: []ssh.AuthMethod{ssh.PublicKeys(r.key.signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	nc, err := dialFrom("127.0.0.1", r.addr)
	if err != nil {
		return "", err
	}
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	conn, chans, reqs, err := ssh.NewClientConn(nc, r.addr, cfg)
	if err != nil {
		nc.Close()
		return "", err
	}
	c := ssh.NewClient(conn, chans, reqs)
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.Output("show system")
	return string(out), err
}

// Defect 3 of issue 12: sixteen idle TCP connections from one address
// used to take every login slot (a global cap of 16, each held for the
// 60 s handshake timeout), and the admin's valid key then failed with
// "connection reset". Now one address holds at most 4.
func TestIdleConnectionsDoNotLockOutTheAdmin(t *testing.T) {
	r := newRig(t, nil)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	taken := 0
	for i := range 16 {
		c, err := dialFrom("127.0.0.2", r.addr)
		if err != nil {
			t.Fatalf("attacker connection %d: %v", i, err)
		}
		held = append(held, c)
		ok, err := greeted(c)
		if err != nil {
			t.Fatalf("attacker connection %d: %v", i, err)
		}
		if ok {
			taken++
		}
	}
	if taken != 4 {
		t.Errorf("%d of 16 idle connections from one address were taken in to log in; want 4", taken)
	}
	out, err := r.adminLogin()
	if err != nil || !strings.Contains(out, "Hostname") {
		t.Fatalf("the admin could not log in past 16 idle connections from another address: %v\n%s\nlog:\n%s", err, out, r.log.String())
	}
	if !strings.Contains(r.log.String(), "logins from 127.0.0.2 are in progress (at most 4 per address)") {
		t.Errorf("the refusal is not logged:\n%s", r.log.String())
	}
}

// The end-to-end test of issue 12: one source holds 50 half-open
// connections (half of them silent, half sending a client version line
// and nothing more), and opens a new one whenever the server closes one;
// the admin from another source logs in with the real OpenSSH client and
// runs a command within 2 s.
func TestAdminLogsInWhileOneSourceHoldsFiftyHalfOpenConnections(t *testing.T) {
	requireSSH(t)
	r := newRig(t, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var opened, refused atomic.Int64
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each slot reconnects at most 200 times and for as long as
			// the test runs (bounded in count and time).
			for n := 0; n < 200; n++ {
				c, err := dialFrom("127.0.0.2", r.addr)
				if err != nil {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
						continue
					}
				}
				opened.Add(1)
				if i%2 == 1 {
					c.Write([]byte("SSH-2.0-OpenSSH_9.2p1\r\n"))
				}
				closed := make(chan struct{})
				go func() { io.Copy(io.Discard, c); close(closed) }()
				select {
				case <-stop:
					c.Close()
					return
				case <-closed:
					refused.Add(1)
					c.Close()
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	// Let the attacker fill its slots first.
	deadline := time.Now().Add(10 * time.Second)
	for opened.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	out, errOut, code := r.runSSH("", nil, r.keyArgs(r.key, "-b", "127.0.0.1", "show system")...)
	took := time.Since(start)
	t.Logf("admin login and command: %v (attacker: %d connections opened, %d closed by the server)", took, opened.Load(), refused.Load())
	if code != 0 || !strings.Contains(out, "Hostname") {
		t.Fatalf("the admin could not log in: exit %d\n%s%s\nlog:\n%s", code, out, errOut, r.log.String())
	}
	if took > 2*time.Second {
		t.Errorf("the admin's login and command took %v; want under 2 s", took)
	}
	if opened.Load() < 50 || refused.Load() < 46 {
		t.Errorf("the attack did not happen as planned: %d opened, %d refused", opened.Load(), refused.Load())
	}
}

// A source whose connections do not log in within the grace time is
// penalised: after that, its connections are closed at once, while the
// admin from another address logs in.
func TestGraceTimeExceededShutsTheSourceOut(t *testing.T) {
	r := newRigWith(t, nil, func(o *sshd.Options) {
		o.LoginGraceTime = 300 * time.Millisecond
		o.Penalties = sshd.Penalties{GraceExceeded: 20 * time.Second}
	})
	c, err := dialFrom("127.0.0.3", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, err := greeted(c); !ok || err != nil {
		t.Fatalf("first connection not taken in: %v", err)
	}
	// The server closes it when the grace time runs out.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
		t.Fatalf("the idle connection was not closed by the server: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(r.log.String(), "refusing connections from 127.0.0.3") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(r.log.String(), "did not log in within 300ms") {
		t.Errorf("the timeout is not logged:\n%s", r.log.String())
	}
	c2, err := dialFrom("127.0.0.3", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if ok, err := greeted(c2); ok || err != nil {
		t.Errorf("a penalised source was taken in again (%v)\nlog:\n%s", err, r.log.String())
	}
	if out, err := r.adminLogin(); err != nil || !strings.Contains(out, "Hostname") {
		t.Errorf("the admin could not log in: %v\n%s", err, out)
	}
}

// Failed logins penalise too: after two connections with a wrong key
// (10 s each here, and 15 s shut the source out), the third is refused,
// and another source is not affected. (With the defaults, 5 s each, it
// takes four quick failures, as with OpenSSH: TestGatePenalties.)
func TestFailedLoginsShutTheSourceOut(t *testing.T) {
	r := newRigWith(t, nil, func(o *sshd.Options) { o.Penalties = sshd.Penalties{AuthFail: 10 * time.Second} })
	wrong, err := ssh.NewSignerFromKey(mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	try := func(src string, signer ssh.Signer) error {
		nc, err := dialFrom(src, r.addr)
		if err != nil {
			return err
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		conn, chans, reqs, err := ssh.NewClientConn(nc, r.addr, &ssh.ClientConfig{User: "admin",
			Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey()})
		if err != nil {
			return err
		}
		ssh.NewClient(conn, chans, reqs).Close()
		return nil
	}
	for i := range 2 {
		if err := try("127.0.0.4", wrong); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("wrong key %d: %v", i+1, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(r.log.String(), "refusing connections from 127.0.0.4") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := try("127.0.0.4", r.key.signer); err == nil || strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("the third connection from a failing source was not refused at once: %v\nlog:\n%s", err, r.log.String())
	}
	if err := try("127.0.0.5", r.key.signer); err != nil {
		t.Errorf("another source: %v", err)
	}
}

// After login, a connection with no session activity for the idle
// timeout is logged out (the session is told), while a session in use
// stays.
func TestIdleTimeoutAfterLogin(t *testing.T) {
	r := newRigWith(t, nil, func(o *sshd.Options) { o.IdleTimeout = time.Second })
	c, err := goClient(r.addr, ssh.PublicKeys(r.key.signer))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	in, _ := s.StdinPipe()
	outR, outW := io.Pipe()
	s.Stdout = outW
	var out strings.Builder
	var omu sync.Mutex
	copied := make(chan struct{})
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := outR.Read(b)
			omu.Lock()
			out.Write(b[:n])
			omu.Unlock()
			if err != nil {
				close(copied)
				return
			}
		}
	}()
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	// In use for three times the idle timeout: one key every 300 ms.
	for range 10 {
		time.Sleep(300 * time.Millisecond)
		if _, err := in.Write([]byte(" ")); err != nil {
			t.Fatalf("a session in use was closed: %v\nlog:\n%s", err, r.log.String())
		}
	}
	// Then quiet: logged out.
	waited := make(chan error, 1)
	go func() { waited <- s.Wait() }()
	select {
	case <-waited:
	case <-time.After(15 * time.Second):
		t.Fatalf("an idle connection was not closed\nlog:\n%s", r.log.String())
	}
	outW.Close()
	<-copied
	omu.Lock()
	got := out.String()
	omu.Unlock()
	if !strings.Contains(got, "idle for 1s: logged out") {
		t.Errorf("the session was not told why it ended:\n%q", got)
	}
	if !strings.Contains(r.log.String(), "idle for 1s; logged out") {
		t.Errorf("the idle logout is not logged:\n%s", r.log.String())
	}
}

// Sessions are capped per connection and in all, and logged-in
// connections in all.
func TestSessionAndLoginCaps(t *testing.T) {
	r := newRigWith(t, nil, func(o *sshd.Options) {
		o.MaxSessions = 2
		o.MaxSessionsTotal = 3
		o.MaxLogins = 2
	})
	c1, err := goClient(r.addr, ssh.PublicKeys(r.key.signer))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	var open []*ssh.Session
	defer func() {
		for _, s := range open {
			s.Close()
		}
	}()
	for i := range 2 {
		s, err := c1.NewSession()
		if err != nil {
			t.Fatalf("session %d of 2: %v", i+1, err)
		}
		open = append(open, s)
	}
	if s, err := c1.NewSession(); err == nil {
		s.Close()
		t.Error("a third session on one connection was accepted (at most 2)")
	} else if !strings.Contains(err.Error(), "at most 2 sessions per connection") {
		t.Errorf("third session: %v", err)
	}
	c2, err := goClient(r.addr, ssh.PublicKeys(r.key.signer))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	s, err := c2.NewSession()
	if err != nil {
		t.Fatalf("third session in all: %v", err)
	}
	open = append(open, s)
	if s, err := c2.NewSession(); err == nil {
		s.Close()
		t.Error("a fourth session in all was accepted (at most 3)")
	} else if !strings.Contains(err.Error(), "3 sessions are open on the router (at most 3)") {
		t.Errorf("fourth session: %v", err)
	}
	// A closed session frees its place.
	open[0].Close()
	open = open[1:]
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := c1.NewSession()
		if err == nil {
			open = append(open, s)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed session's place was not freed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A third logged-in connection is closed.
	if c3, err := goClient(r.addr, ssh.PublicKeys(r.key.signer)); err == nil {
		_, err := c3.NewSession()
		c3.Close()
		if err == nil {
			t.Error("a third logged-in connection got a session (at most 2 logins)")
		}
	}
	if !strings.Contains(r.log.String(), "2 connections are logged in already (at most 2)") {
		t.Errorf("the refused login is not logged:\n%s", r.log.String())
	}
}

// Only the pinned algorithms are offered: a client that offers only what
// ssh-audit flags (NIST ECDH, SHA-1 key exchange, CTR with encrypt-and-
// MAC SHA-1 or SHA-2) cannot connect; one with the modern set can.
func TestLegacyAlgorithmsRefused(t *testing.T) {
	r := newRig(t, nil)
	for _, c := range []struct {
		name string
		cfg  ssh.Config
	}{
		{"nist ecdh", ssh.Config{KeyExchanges: []string{ssh.KeyExchangeECDHP256, ssh.KeyExchangeECDHP384, ssh.KeyExchangeECDHP521}}},
		{"sha1 dh", ssh.Config{KeyExchanges: []string{ssh.InsecureKeyExchangeDH14SHA1, ssh.KeyExchangeDH14SHA256}}},
		{"ctr and e&m macs", ssh.Config{Ciphers: []string{ssh.CipherAES128CTR, ssh.CipherAES256CTR},
			MACs: []string{ssh.HMACSHA256, ssh.HMACSHA512, ssh.HMACSHA1, ssh.InsecureHMACSHA196}}},
		{"ctr and etm macs", ssh.Config{Ciphers: []string{ssh.CipherAES128CTR}, MACs: []string{ssh.HMACSHA256ETM}}},
	} {
		_, err := ssh.Dial("tcp", r.addr, &ssh.ClientConfig{Config: c.cfg, User: "admin",
			Auth: []ssh.AuthMethod{ssh.PublicKeys(r.key.signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "no common algorithm") {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	for _, kex := range sshd.KeyExchanges {
		for _, cipher := range sshd.Ciphers {
			cl, err := ssh.Dial("tcp", r.addr, &ssh.ClientConfig{Config: ssh.Config{KeyExchanges: []string{kex}, Ciphers: []string{cipher}},
				User: "admin", Auth: []ssh.AuthMethod{ssh.PublicKeys(r.key.signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
			if err != nil {
				t.Errorf("%s with %s: %v", kex, cipher, err)
				continue
			}
			cl.Close()
		}
	}
}

func mustKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}
