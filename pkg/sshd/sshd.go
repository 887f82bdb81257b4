// Package sshd is passgate's SSH server: it carries the shell to the
// administrator over the network (golang.org/x/crypto/ssh).
//
//   - Host key: ed25519, made on first start and kept in a directory the
//     caller names (beside the configuration); a damaged key is replaced,
//     and a key that cannot be kept is held in memory, loudly (hostkey.go).
//   - Algorithms pinned to a modern set (KeyExchanges, Ciphers, MACs):
//     ssh-audit reports no failure and no warning.
//   - Login: user "admin" only. Public keys from the configuration's
//     "service ssh authorized-key" entries; a password only when "system
//     admin password-hash" is set (pkg/passhash: yescrypt, SHA-512 or
//     SHA-256 crypt, bcrypt). There is no default password, and no
//     password method is offered without a hash.
//   - Before login, whoever reaches the port cannot lock the admin out
//     (startups.go, after OpenSSH's MaxStartups, PerSourceMaxStartups and
//     PerSourcePenalties): a few logins in progress per source, random
//     early drop when many are, a 30 s grace time, and sources whose
//     connections time out or fail are shut out for a while. Failed
//     logins are logged and slowed down per source address (pkg/loginlimit).
//   - After login: an idle timeout, and caps on sessions per connection,
//     sessions in all and logged-in connections (loggedin.go).
//   - Sessions: "shell" (interactive with a pty, or a script without one)
//     and "exec" (one command line); no port forwarding, no subsystems.
//     Several sessions may run at once; they share one shell.Shell, which
//     serialises commits.
//
// The server listens where the caller says; routerd chooses the LAN
// address (or others) from "service ssh listen".
package sshd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/passgate/passgate/pkg/loginlimit"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/passhash"
	"github.com/passgate/passgate/pkg/shell"
)

// User is the only login name accepted.
const User = "admin"

// The algorithms offered, pinned to a modern set (OpenSSH's current
// defaults and the ssh-audit hardening guides): hybrid post-quantum and
// X25519 key exchange, AEAD ciphers only, encrypt-then-MAC MACs only (no
// MAC is used with an AEAD cipher; they are listed for clients that would
// pick no AEAD cipher, which none of OpenSSH since 6.5 does). x/crypto adds
// "kex-strict-s-v00@openssh.com" (the Terrapin fix) itself. The host key
// is ssh-ed25519 only.
var (
	KeyExchanges = []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519}
	Ciphers      = []string{ssh.CipherChaCha20Poly1305, ssh.CipherAES256GCM, ssh.CipherAES128GCM}
	MACs         = []string{ssh.HMACSHA256ETM, ssh.HMACSHA512ETM}
)

// Options configure a Server. Zero values take the defaults named.
type Options struct {
	// Shell runs the sessions (required).
	Shell *shell.Shell
	// Config returns the committed configuration, read at every login for
	// the authorized keys and the password hash (required).
	Config func() *config.Config
	// HostKeyDir holds the host key (required).
	HostKeyDir string
	// HostKey, if set, is the key LoadOrCreateHostKey(HostKeyDir) already
	// returned (routerd loads it while it sets up the ports).
	HostKey *HostKey
	// Logf receives logins, failed logins and errors (nil: discarded).
	Logf func(format string, args ...any)
	// OnLoginFailure, if set, is called for each failed login (a wrong
	// password, or a connection that ended without logging in), besides
	// the Logf line.
	OnLoginFailure func(remote net.Addr, user, reason string)

	// FreeFailures failures from one address are not slowed down
	// (default 3); after them each attempt waits FailDelay, doubling with
	// each further failure up to MaxFailDelay (defaults 1s and 60s).
	FreeFailures int
	FailDelay    time.Duration
	MaxFailDelay time.Duration
	// Limiter, if set, counts the failures: routerd shares one with the
	// web page, so guesses on either slow down both. The three settings
	// above, when set, change it.
	Limiter *loginlimit.Limiter

	// Before login (startups.go): LoginGraceTime bounds the time from
	// connecting to logged in, accepting the host key and typing the
	// password included (default 30s). MaxStartups ("10:30:100") and
	// PerSourceMaxStartups (4) bound the connections logging in, in all
	// and per source; Penalties (OpenSSH's defaults) shut out a source
	// whose connections time out or fail.
	LoginGraceTime       time.Duration
	MaxStartups          Startups
	PerSourceMaxStartups int
	Penalties            Penalties

	// After login: a connection with no session data either way for
	// IdleTimeout is closed (default 15m). MaxSessions sessions per
	// connection (default 10, OpenSSH's), MaxSessionsTotal in all
	// (default 32), MaxLogins logged-in connections in all (default 16).
	IdleTimeout      time.Duration
	MaxSessions      int
	MaxSessionsTotal int
	MaxLogins        int
}

// Server is an SSH server for the shell.
type Server struct {
	o        Options
	hostKey  *HostKey
	limit    *loginlimit.Limiter
	gate     *gate
	pwSem    chan struct{} // one password verification at a time
	logins   atomic.Int32
	sessions atomic.Int32

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New returns a Server; it loads the host key or creates it (see
// LoadOrCreateHostKey: a damaged or unsavable key is replaced, and said
// in the log, rather than leaving the router without SSH).
func New(o Options) (*Server, error) {
	if o.Shell == nil || o.Config == nil || o.HostKeyDir == "" {
		return nil, errors.New("sshd: Shell, Config and HostKeyDir are required")
	}
	hk := o.HostKey
	if hk == nil {
		var err error
		if hk, err = LoadOrCreateHostKey(o.HostKeyDir); err != nil {
			return nil, err
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&o.LoginGraceTime, 30*time.Second)
	def(&o.IdleTimeout, 15*time.Minute)
	defInt(&o.MaxSessions, 10)
	defInt(&o.MaxSessionsTotal, 32)
	defInt(&o.MaxLogins, 16)
	l := o.Limiter
	if l == nil {
		l = loginlimit.New()
	}
	if o.FreeFailures > 0 {
		l.Free = o.FreeFailures
	}
	if o.FailDelay > 0 {
		l.Base = o.FailDelay
	}
	if o.MaxFailDelay > 0 {
		l.Max = o.MaxFailDelay
	}
	s := &Server{o: o, hostKey: hk, limit: l, pwSem: make(chan struct{}, 1), conns: map[net.Conn]struct{}{}}
	s.gate = newGate(o.MaxStartups, o.PerSourceMaxStartups, o.Penalties, s.logf)
	for _, n := range hk.Notices {
		s.logf("ssh: WARNING: %s", n)
	}
	return s, nil
}

// PublicKey returns the host key's public half.
func (s *Server) PublicKey() ssh.PublicKey { return s.hostKey.Signer.PublicKey() }

// Fingerprint returns the host key's SHA256 fingerprint as ssh-keygen -l
// prints it.
func (s *Server) Fingerprint() string { return s.hostKey.Fingerprint() }

// HostKeyInfo describes the host key for "show system": its type and
// fingerprint, and whether it is lost at the next boot.
func (s *Server) HostKeyInfo() string {
	info := s.PublicKey().Type() + " " + s.Fingerprint()
	if s.hostKey.Ephemeral {
		info += " (in RAM: a new key at every boot)"
	}
	return info
}

func (s *Server) logf(format string, args ...any) {
	if s.o.Logf != nil {
		s.o.Logf(format, args...)
	}
}

// Serve accepts connections on ln until ctx ends (then it closes ln and
// every connection and returns ctx's error) or ln fails.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	s.logf("ssh: listening on %s, host key %s", ln.Addr(), s.Fingerprint())
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				s.wg.Wait()
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			s.wg.Wait()
			return err
		}
		delay = 0
		// Admission is decided here, before any goroutine or buffer is
		// spent on the connection.
		ip := addrOf(c.RemoteAddr())
		if why := s.gate.admit(ip); why != "" {
			c.Close()
			continue
		}
		s.track(c, true)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(c, false)
			defer c.Close()
			s.handle(ctx, c, ip)
		}()
	}
}

// isTemporary matches accept errors that are worth retrying (too many
// open files and the like).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// attempt records what a connection tried, for the log.
type attempt struct {
	mu        sync.Mutex
	user      string
	reasons   []string
	passwords int // wrong passwords (each counted as a failure)
}

func (a *attempt) add(user, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.user = user
	for _, r := range a.reasons {
		if r == reason {
			return
		}
	}
	if len(a.reasons) < 8 {
		a.reasons = append(a.reasons, reason)
	}
}

// sleep waits d (the rate limit) unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// verify checks a password, one at a time: a yescrypt check takes 16 MiB
// or more, and parallel guesses must not add up.
func (s *Server) verify(ctx context.Context, hash, password string) bool {
	select {
	case s.pwSem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-s.pwSem }()
	return passhash.Verify(hash, password)
}

// serverConfig builds the SSH configuration of one connection from the
// configuration in force now.
func (s *Server) serverConfig(ctx context.Context, ip netip.Addr, at *attempt) *ssh.ServerConfig {
	cfg := s.o.Config()
	var keys []config.AuthorizedKey
	hash := ""
	if cfg != nil {
		keys = cfg.Service.SSH.AuthorizedKeys
		hash = cfg.System.Admin.PasswordHash
	}
	sc := &ssh.ServerConfig{
		Config: ssh.Config{
			KeyExchanges: KeyExchanges,
			Ciphers:      Ciphers,
			MACs:         MACs,
		},
		MaxAuthTries:  6,
		ServerVersion: "SSH-2.0-passgate",
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			sleep(ctx, s.limit.Wait(ip))
			if meta.User() != User {
				at.add(meta.User(), fmt.Sprintf("user %q (only %q may log in)", meta.User(), User))
				return nil, errors.New("unknown user")
			}
			want := key.Marshal()
			for _, ak := range keys {
				pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(ak.Key))
				if err == nil && bytes.Equal(pk.Marshal(), want) {
					return &ssh.Permissions{Extensions: map[string]string{"login": "key " + ak.Name}}, nil
				}
			}
			at.add(meta.User(), "public key not authorized ("+ssh.FingerprintSHA256(key)+")")
			return nil, errors.New("key not authorized")
		},
	}
	// No password method without a hash that can verify (the
	// configuration refuses others; this guards a Config built in Go).
	if passhash.Check(hash) == nil {
		sc.PasswordCallback = func(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			sleep(ctx, s.limit.Wait(ip))
			if meta.User() == User && s.verify(ctx, hash, string(pw)) {
				return &ssh.Permissions{Extensions: map[string]string{"login": "password"}}, nil
			}
			reason := "wrong password"
			if meta.User() != User {
				reason = fmt.Sprintf("user %q (only %q may log in)", meta.User(), User)
			}
			at.add(meta.User(), reason)
			at.mu.Lock()
			at.passwords++
			at.mu.Unlock()
			n := s.limit.Fail(ip)
			s.failed(meta.RemoteAddr(), meta.User(), fmt.Sprintf("%s (%d failure(s) from this address)", reason, n))
			return nil, errors.New("wrong password")
		}
	}
	sc.AddHostKey(s.hostKey.Signer)
	return sc
}

func (s *Server) failed(remote net.Addr, user, reason string) {
	s.logf("ssh: login failed for %q from %s: %s", user, remote, reason)
	if s.o.OnLoginFailure != nil {
		s.o.OnLoginFailure(remote, user, reason)
	}
}

// graceConn notes whether a read hit the login deadline.
type graceConn struct {
	net.Conn
	timedOut atomic.Bool
}

func (g *graceConn) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		g.timedOut.Store(true)
	}
	return n, err
}

// handle serves one admitted connection: the login, under the gate's
// count and the grace time, then the sessions.
func (s *Server) handle(ctx context.Context, c net.Conn, ip netip.Addr) {
	at := &attempt{}
	deadline := time.Now().Add(s.o.LoginGraceTime)
	c.SetDeadline(deadline)
	gc := &graceConn{Conn: c}
	loginCtx, cancel := context.WithDeadline(ctx, deadline)
	conn, chans, reqs, err := ssh.NewServerConn(gc, s.serverConfig(loginCtx, ip, at))
	cancel()
	if err != nil {
		at.mu.Lock()
		tried, passwords := len(at.reasons) > 0, at.passwords
		user, reasons := at.user, strings.Join(at.reasons, "; ")
		at.mu.Unlock()
		var authErr *ssh.ServerAuthError
		tried = tried || errors.As(err, &authErr)
		kind := penaltyNoAuth
		switch {
		case ctx.Err() != nil:
			kind = penaltyNone // shutting down: nobody's fault
		case gc.timedOut.Load():
			kind = penaltyGrace
			s.gate.timedOut(fmt.Sprintf("%s did not log in within %s; closed", c.RemoteAddr(), s.o.LoginGraceTime))
		case tried:
			kind = penaltyAuthFail
		}
		s.gate.release(ip, kind)
		if tried && passwords == 0 && ctx.Err() == nil {
			// A connection that gave up without logging in counts once
			// (wrong passwords were counted one by one).
			n := s.limit.Fail(ip)
			if reasons == "" {
				reasons = err.Error()
			}
			s.failed(c.RemoteAddr(), user, fmt.Sprintf("%s (%d failure(s) from this address)", reasons, n))
		}
		return
	}
	defer conn.Close()
	c.SetDeadline(time.Time{})
	s.gate.release(ip, penaltyCleared)
	s.limit.Succeed(ip)
	who := fmt.Sprintf("ssh %s from %s", conn.User(), conn.RemoteAddr())
	if n := s.logins.Add(1); n > int32(s.o.MaxLogins) {
		s.logins.Add(-1)
		s.logf("ssh: %s logged in, but %d connections are logged in already (at most %d); closed", who, n-1, s.o.MaxLogins)
		return
	}
	defer s.logins.Add(-1)
	s.logf("ssh: %s logged in (%s)", who, conn.Permissions.Extensions["login"])
	lc := newLoggedIn(conn, s.o.IdleTimeout, func() {
		s.logf("ssh: %s idle for %s; logged out", who, s.o.IdleTimeout)
	})
	defer lc.stop()
	ctx = shell.WithUser(ctx, fmt.Sprintf("ssh %s (%s) from %s", conn.User(), conn.Permissions.Extensions["login"], conn.RemoteAddr()))
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		var port uint16
		if lp, err := netip.ParseAddrPort(conn.LocalAddr().String()); err == nil {
			port = lp.Port()
		}
		ctx = shell.WithPeer(ctx, ap.Addr(), port)
	}
	go ssh.DiscardRequests(reqs) // no port forwarding, no keepalive replies needed
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.Prohibited, "only sessions are served here")
			continue
		}
		if !lc.addSession(s.o.MaxSessions) {
			nc.Reject(ssh.ResourceShortage, fmt.Sprintf("at most %d sessions per connection", s.o.MaxSessions))
			continue
		}
		if n := s.sessions.Add(1); n > int32(s.o.MaxSessionsTotal) {
			s.sessions.Add(-1)
			lc.endSession()
			s.logf("ssh: %s: refused a session: %d sessions are open (at most %d)", who, n-1, s.o.MaxSessionsTotal)
			nc.Reject(ssh.ResourceShortage, fmt.Sprintf("%d sessions are open on the router (at most %d)", n-1, s.o.MaxSessionsTotal))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.sessions.Add(-1)
			defer lc.endSession()
			s.session(ctx, nc, who, lc)
		}()
	}
	wg.Wait()
	s.logf("ssh: %s logged out", who)
}

// ptyState is the terminal a client asked for.
type ptyState struct {
	mu         sync.Mutex
	term       string
	cols, rows int
}

func (p *ptyState) size() (int, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cols, p.rows
}

func (p *ptyState) resize(cols, rows uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cols > 0 && cols < 10000 {
		p.cols = int(cols)
	}
	if rows > 0 && rows < 10000 {
		p.rows = int(rows)
	}
}

// session serves one session channel.
func (s *Server) session(ctx context.Context, nc ssh.NewChannel, who string, lc *loggedIn) {
	raw, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer raw.Close()
	lc.addChannel(raw)
	defer lc.removeChannel(raw)
	var ch ssh.Channel = activeChannel{raw, lc} // data either way is activity
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pty *ptyState
	started := false
	done := make(chan struct{})
	start := func(run func() int) {
		started = true
		go func() {
			defer close(done)
			status := run()
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
			ch.CloseWrite()
			ch.Close()
		}()
	}
	for req := range reqs {
		lc.touch()
		switch req.Type {
		case "pty-req":
			var p struct {
				Term       string
				Cols, Rows uint32
				W, H       uint32
				Modes      string
			}
			if started || ssh.Unmarshal(req.Payload, &p) != nil {
				req.Reply(false, nil)
				continue
			}
			pty = &ptyState{term: p.Term, cols: 80, rows: 24}
			pty.resize(p.Cols, p.Rows)
			req.Reply(true, nil)
		case "window-change":
			var w struct{ Cols, Rows, W, H uint32 }
			if pty != nil && ssh.Unmarshal(req.Payload, &w) == nil {
				pty.resize(w.Cols, w.Rows)
			}
			if req.WantReply {
				req.Reply(pty != nil, nil)
			}
		case "shell":
			if started {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			if pty != nil {
				ti := shell.TermInfo{Term: pty.term, Size: pty.size, Name: who, Pager: true,
					Color: strings.Contains(pty.term, "color")}
				ti.Width, ti.Height = pty.size()
				start(func() int {
					if err := s.o.Shell.Serve(ctx, ch, ti); err != nil && ctx.Err() == nil {
						s.logf("ssh: %s: session ended: %v", who, err)
					}
					return 0
				})
			} else {
				start(func() int {
					if err := s.o.Shell.RunScript(ctx, ch, ch); err != nil {
						return 1
					}
					return 0
				})
			}
		case "exec":
			var e struct{ Command string }
			if started || ssh.Unmarshal(req.Payload, &e) != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			s.logf("ssh: %s runs %q", who, e.Command)
			var out io.Writer = ch
			if pty != nil {
				out = crlf{ch}
				// The client's terminal is raw: Ctrl-C arrives as a byte.
				go func() {
					b := make([]byte, 256)
					for {
						n, err := ch.Read(b)
						if bytes.IndexByte(b[:n], 0x03) >= 0 {
							cancel()
							return
						}
						if err != nil {
							return
						}
					}
				}()
			}
			// Without a terminal, the command reads what the client
			// sends: "ssh admin@router 'system update' < file.pgu".
			var in io.Reader = ch
			if pty != nil {
				in = nil // the reader above owns the channel
			}
			start(func() int {
				if err := s.o.Shell.RunInput(ctx, e.Command, in, out); err != nil {
					return 1
				}
				return 0
			})
		case "signal":
			// Ctrl-C of an exec without a pty: stop the command.
			cancel()
			if req.WantReply {
				req.Reply(true, nil)
			}
		default: // env, subsystem (sftp), x11-req, auth-agent-req ...
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
	// The client closed the channel (or the connection went away).
	cancel()
	if started {
		<-done
	}
}

// crlf turns "\n" into "\r\n" for an exec with a pty (the client's
// terminal is raw, and there is no line discipline on this side).
type crlf struct{ w io.Writer }

func (c crlf) Write(p []byte) (int, error) {
	if _, err := c.w.Write(bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}
