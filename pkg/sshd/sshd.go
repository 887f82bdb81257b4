// Package sshd is passgate's SSH server: it carries the shell to the
// administrator over the network (golang.org/x/crypto/ssh).
//
//   - Host key: ed25519, made on first start and kept in a directory the
//     caller names (beside the configuration); see LoadOrCreateHostKey.
//   - Login: user "admin" only. Public keys from the configuration's
//     "service ssh authorized-key" entries; a password only when "system
//     admin password-hash" is set (bcrypt or SHA-512 crypt). There is no
//     default password, and no password method is offered without a hash.
//   - Failed logins are logged and slowed down per source address.
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
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/shell"
)

// User is the only login name accepted.
const User = "admin"

// Options configure a Server.
type Options struct {
	// Shell runs the sessions (required).
	Shell *shell.Shell
	// Config returns the committed configuration, read at every login for
	// the authorized keys and the password hash (required).
	Config func() *config.Config
	// HostKeyDir holds the host key (required).
	HostKeyDir string
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
	// HandshakeTimeout bounds the time from connecting to logging in
	// (default 60s).
	HandshakeTimeout time.Duration
	// MaxPending is the number of connections that may be logging in at
	// once; more are closed at once (default 16).
	MaxPending int
}

// Server is an SSH server for the shell.
type Server struct {
	o       Options
	signer  ssh.Signer
	limit   *limiter
	pending atomic.Int32

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New returns a Server; it loads the host key or creates it.
func New(o Options) (*Server, error) {
	if o.Shell == nil || o.Config == nil || o.HostKeyDir == "" {
		return nil, errors.New("sshd: Shell, Config and HostKeyDir are required")
	}
	signer, err := LoadOrCreateHostKey(o.HostKeyDir)
	if err != nil {
		return nil, err
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = time.Minute
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 16
	}
	l := newLimiter()
	if o.FreeFailures > 0 {
		l.Free = o.FreeFailures
	}
	if o.FailDelay > 0 {
		l.Base = o.FailDelay
	}
	if o.MaxFailDelay > 0 {
		l.Max = o.MaxFailDelay
	}
	return &Server{o: o, signer: signer, limit: l, conns: map[net.Conn]struct{}{}}, nil
}

// PublicKey returns the host key's public half.
func (s *Server) PublicKey() ssh.PublicKey { return s.signer.PublicKey() }

// Fingerprint returns the host key's SHA256 fingerprint as ssh-keygen -l
// prints it.
func (s *Server) Fingerprint() string { return ssh.FingerprintSHA256(s.signer.PublicKey()) }

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
		if !s.track(c, true) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(c, false)
			defer c.Close()
			s.handle(ctx, c)
		}()
	}
}

// isTemporary matches accept errors that are worth retrying (too many
// open files and the like).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	return true
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
	a.reasons = append(a.reasons, reason)
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
		MaxAuthTries:  6,
		ServerVersion: "SSH-2.0-passgate",
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			sleep(ctx, s.limit.wait(ip))
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
	if hash != "" {
		sc.PasswordCallback = func(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			sleep(ctx, s.limit.wait(ip))
			if meta.User() == User && checkPassword(hash, string(pw)) {
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
			n := s.limit.fail(ip)
			s.failed(meta.RemoteAddr(), meta.User(), fmt.Sprintf("%s (%d failure(s) from this address)", reason, n))
			return nil, errors.New("wrong password")
		}
	}
	sc.AddHostKey(s.signer)
	return sc
}

func (s *Server) failed(remote net.Addr, user, reason string) {
	s.logf("ssh: login failed for %q from %s: %s", user, remote, reason)
	if s.o.OnLoginFailure != nil {
		s.o.OnLoginFailure(remote, user, reason)
	}
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	if s.pending.Add(1) > int32(s.o.MaxPending) {
		s.pending.Add(-1)
		s.logf("ssh: too many logins in progress; closed the connection from %s", c.RemoteAddr())
		return
	}
	ip := addrOf(c.RemoteAddr())
	at := &attempt{}
	c.SetDeadline(time.Now().Add(s.o.HandshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(c, s.serverConfig(ctx, ip, at))
	s.pending.Add(-1)
	if err != nil {
		at.mu.Lock()
		tried, passwords := len(at.reasons) > 0, at.passwords
		user, reasons := at.user, strings.Join(at.reasons, "; ")
		at.mu.Unlock()
		var authErr *ssh.ServerAuthError
		if (tried || errors.As(err, &authErr)) && passwords == 0 && ctx.Err() == nil {
			// A connection that gave up without logging in counts once
			// (wrong passwords were counted one by one).
			n := s.limit.fail(ip)
			if reasons == "" {
				reasons = err.Error()
			}
			s.failed(c.RemoteAddr(), user, fmt.Sprintf("%s (%d failure(s) from this address)", reasons, n))
		}
		return
	}
	defer conn.Close()
	c.SetDeadline(time.Time{})
	s.limit.succeed(ip)
	who := fmt.Sprintf("ssh %s from %s", conn.User(), conn.RemoteAddr())
	s.logf("ssh: %s logged in (%s)", who, conn.Permissions.Extensions["login"])
	ctx = shell.WithUser(ctx, fmt.Sprintf("ssh %s (%s) from %s", conn.User(), conn.Permissions.Extensions["login"], conn.RemoteAddr()))
	go ssh.DiscardRequests(reqs) // no port forwarding, no keepalive replies needed
	var wg sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.Prohibited, "only sessions are served here")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.session(ctx, nc, who)
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
func (s *Server) session(ctx context.Context, nc ssh.NewChannel, who string) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
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
			start(func() int {
				if err := s.o.Shell.Run(ctx, e.Command, out); err != nil {
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
