package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/passgate/passgate/pkg/console"
	"github.com/passgate/passgate/pkg/loginlimit"
	"github.com/passgate/passgate/pkg/passhash"
	"github.com/passgate/passgate/pkg/shell"
	"github.com/passgate/passgate/pkg/sshd"
)

const defaultSocket = "/run/passgate/shell.sock"

// startShell runs the configuration shell on SSH (where the configuration
// says), on the serial console if one is given, and on the control socket
// that `routerd shell -c` uses.
// hostKey is the SSH host key loaded (or made) at start-up, or nil for
// sshd to load it.
func (r *router) startShell(ctx context.Context, wg *sync.WaitGroup, hostKey *sshd.HostKey, pre *prestart) {
	sh := shell.New(shellRouter{r}, shell.Options{Logf: r.logf,
		Banner: "passgate " + version + ": type ? for help"})
	// One limiter: failed logins on SSH and on the web page count together.
	limiter := loginlimit.New()
	if srv, err := sshd.New(sshd.Options{Shell: sh, Config: shellRouter{r}.Config, HostKeyDir: r.stateDir, HostKey: hostKey, Logf: r.logf, Limiter: limiter}); err != nil {
		r.logf("ssh: %v", err)
	} else {
		info := srv.HostKeyInfo()
		r.sshKey.Store(&info)
		for _, a := range r.sshAddrs() {
			network, addr := a[0], a[1]
			ln, err := net.Listen(network, addr)
			if err != nil {
				r.logf("ssh: listen %s: %v", addr, err)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				go func() { <-ctx.Done(); ln.Close() }()
				if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
					r.logf("ssh on %s stopped: %v", addr, err)
				}
			}()
		}
	}
	r.setUpWeb(ctx, sh, limiter, pre)
	wg.Add(1)
	go func() { // the page's listeners end with ctx; wait for them
		defer wg.Done()
		<-ctx.Done()
		r.mu.Lock()
		w := r.web
		r.mu.Unlock()
		if w != nil {
			<-w.done
		}
	}()
	if r.console != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			console.Run(ctx, console.Options{Device: r.console, Shell: sh, Logf: r.logf,
				Login: r.consoleLogin, CheckPassword: passhash.Verify})
		}()
	}
	if r.socket != "" {
		if err := r.serveSocket(ctx, wg, sh); err != nil {
			r.logf("control socket: %v", err)
		}
	}
}

// consoleLogin is what the serial console asks for (system console login).
func (r *router) consoleLogin() (hash string, required bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg.System.Admin.PasswordHash, r.cfg.System.Console.Login
}

// sshAddrs are the networks and addresses SSH listens on: the router's
// IPv4 LAN address ("listen wan" and "listen all" add a port forward from
// the WAN address to it, settings.go), and every IPv6 address of the
// router's own stack. Those are self0's: the LAN prefixes' ::1 (which
// renumbering changes, hence the wildcard) and link-local. pkg/fw6 drops
// every packet from the WAN to them (RFC 6092 REC-50, ReasonSelfClosed)
// and hands LAN packets to self0, so over IPv6 SSH is reachable from the
// LAN only, whatever "listen" says.
func (r *router) sshAddrs() [][2]string {
	port := fmt.Sprint(r.cfg.Service.SSH.Port)
	addrs := [][2]string{{"tcp4", net.JoinHostPort(r.cfg.Interfaces.LAN.Address.Addr().String(), port)}}
	if !r.cfg.Interfaces.LAN.IPv6.Disabled {
		addrs = append(addrs, [2]string{"tcp6", net.JoinHostPort("::", port)})
	}
	return addrs
}

// serveSocket answers one command per connection: the client sends a line,
// gets the output, and a last line "\x00ok" or "\x00error".
func (r *router) serveSocket(ctx context.Context, wg *sync.WaitGroup, sh *shell.Shell) error {
	if err := os.MkdirAll(filepath.Dir(r.socket), 0o700); err != nil {
		return err
	}
	os.Remove(r.socket)
	ln, err := net.Listen("unix", r.socket)
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		go func() { <-ctx.Done(); ln.Close() }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(io.LimitReader(c, 64<<10)).ReadString('\n')
				if err != nil && line == "" {
					return
				}
				status := "ok"
				if err := sh.Run(shell.WithUser(ctx, "routerd shell -c"), strings.TrimRight(line, "\r\n"), c); err != nil {
					status = "error"
				}
				fmt.Fprintf(c, "\x00%s\n", status)
			}()
		}
	}()
	return nil
}

// shellClient is `routerd shell -c 'command'`: it runs one command on the
// running router and exits 0, or 1 if the command failed.
func shellClient(args []string) int {
	socket, cmd := defaultSocket, ""
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-c" && i+1 < len(args):
			cmd = args[i+1]
			i++
		case args[i] == "-socket" && i+1 < len(args):
			socket = args[i+1]
			i++
		default:
			fmt.Fprintln(os.Stderr, "usage: routerd shell [-socket PATH] -c 'command; command ...'")
			return 2
		}
	}
	if cmd == "" {
		fmt.Fprintln(os.Stderr, "usage: routerd shell [-socket PATH] -c 'command; command ...' (the interactive shell is on the serial console and SSH)")
		return 2
	}
	c, err := net.Dial("unix", socket)
	if err != nil {
		fmt.Fprintf(os.Stderr, "routerd shell: is routerd running? %v\n", err)
		return 1
	}
	defer c.Close()
	fmt.Fprintln(c, cmd)
	out, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(os.Stderr, "routerd shell: %v\n", err)
		return 1
	}
	text, status := string(out), "error"
	if i := strings.LastIndexByte(text, 0); i >= 0 {
		text, status = text[:i], strings.TrimSpace(text[i+1:])
	}
	os.Stdout.WriteString(text)
	if status != "ok" {
		return 1
	}
	return 0
}
