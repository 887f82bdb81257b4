package sshd

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// loggedIn is the state of a logged-in connection that bounds it: its
// sessions (counted against Options.MaxSessions) and its idle time (no
// session data either way, and no session request, for the idle timeout:
// then the sessions are told and the connection is closed). Keepalives of
// the client (global requests) are not activity.
type loggedIn struct {
	conn   ssh.Conn
	idle   time.Duration
	onIdle func()
	last   atomic.Int64 // unix nanoseconds of the last activity
	timer  *time.Timer

	mu       sync.Mutex
	sessions int
	chans    map[ssh.Channel]struct{}
	closed   bool
}

func newLoggedIn(conn ssh.Conn, idle time.Duration, onIdle func()) *loggedIn {
	l := &loggedIn{conn: conn, idle: idle, onIdle: onIdle, chans: map[ssh.Channel]struct{}{}}
	l.touch()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = time.AfterFunc(idle, l.check)
	return l
}

func (l *loggedIn) touch() { l.last.Store(time.Now().UnixNano()) }

// check runs when the idle time may have passed.
func (l *loggedIn) check() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	if quiet := time.Since(time.Unix(0, l.last.Load())); quiet < l.idle {
		l.timer.Reset(l.idle - quiet)
		l.mu.Unlock()
		return
	}
	l.closed = true
	chans := make([]ssh.Channel, 0, len(l.chans))
	for ch := range l.chans {
		chans = append(chans, ch)
	}
	l.mu.Unlock()
	l.onIdle()
	msg := []byte("\r\nidle for " + l.idle.String() + ": logged out\r\n")
	for _, ch := range chans {
		go ch.Write(msg) // a full window must not hold the close up
	}
	time.AfterFunc(200*time.Millisecond, func() { l.conn.Close() })
}

// stop ends the idle watch (the connection ended).
func (l *loggedIn) stop() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.timer.Stop()
}

// addSession counts a session, or reports false when max are open.
func (l *loggedIn) addSession(max int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessions >= max {
		return false
	}
	l.sessions++
	l.touch()
	return true
}

func (l *loggedIn) endSession() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sessions--
}

func (l *loggedIn) addChannel(ch ssh.Channel) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.chans[ch] = struct{}{}
}

func (l *loggedIn) removeChannel(ch ssh.Channel) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.chans, ch)
}

// activeChannel is a session channel whose data marks the connection
// active.
type activeChannel struct {
	ssh.Channel
	l *loggedIn
}

func (a activeChannel) Read(p []byte) (int, error) {
	n, err := a.Channel.Read(p)
	if n > 0 {
		a.l.touch()
	}
	return n, err
}

func (a activeChannel) Write(p []byte) (int, error) {
	a.l.touch()
	return a.Channel.Write(p)
}
