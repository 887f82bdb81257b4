package main

import (
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/passgate/passgate/internal/meminfo"
	"github.com/passgate/passgate/pkg/atomicfile"
	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/passthrough"
	"github.com/passgate/passgate/pkg/sshd"
	"github.com/passgate/passgate/pkg/webui"
)

// future is the result of work begun in the background at start-up.
type future[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func startFuture[T any](f func() (T, error)) *future[T] {
	fu := &future[T]{done: make(chan struct{})}
	go func() {
		defer close(fu.done)
		fu.v, fu.err = f()
	}()
	return fu
}

// get waits for the result.
func (f *future[T]) get() (T, error) {
	<-f.done
	return f.v, f.err
}

// prestart is the start-up work that needs only the configuration and
// the state directory, begun as soon as the configuration is read so that
// it overlaps the set-up of the ports, rings and self0 (kernel work): the
// NAT engine's tables, the SSH host key, the web page's certificate and
// the ULA prefix (the last three made and written durably to the boot
// partition on a first boot).
type prestart struct {
	nat     *future[natEngines]
	hostKey *future[*sshd.HostKey]
	webCert *future[*webui.Cert]
	webFor  []string // the names webCert was made for
	ula     *future[netip.Prefix]
}

type natEngines struct {
	eng *nat.Engine
	pt  *passthrough.Passthrough
}

func (r *router) startPrestart(cfg *config.Config) *prestart {
	stateDir := r.stateDir
	names := webCertNames(cfg)
	return &prestart{
		webFor:  names,
		webCert: startFuture(func() (*webui.Cert, error) { return webui.LoadOrCreateCert(stateDir, names) }),
		nat: startFuture(func() (natEngines, error) {
			mem, _ := meminfo.Read() // unknown: natConfig assumes 1 GiB
			eng, err := nat.New(natConfig(cfg, mem.Total, randomSeed()))
			if err != nil {
				return natEngines{}, err
			}
			pt, err := passthrough.New(eng, passthroughConfig(cfg))
			return natEngines{eng, pt}, err
		}),
		hostKey: startFuture(func() (*sshd.HostKey, error) { return sshd.LoadOrCreateHostKey(stateDir) }),
		ula: startFuture(func() (netip.Prefix, error) {
			if !ipv6Wanted(cfg) {
				return netip.Prefix{}, nil
			}
			return r.loadULA(cfg.Interfaces.LAN.IPv6, stateDir), nil
		}),
	}
}

// loadULA returns the configured ULA /48, or the one generated earlier, or
// generates and stores one (RFC 7084 ULA-1, ULA-2: kept across restarts).
func (r *router) loadULA(l config.LANIPv6, stateDir string) netip.Prefix {
	if l.NoULA {
		return netip.Prefix{}
	}
	if l.ULA.IsValid() {
		return l.ULA
	}
	path := filepath.Join(stateDir, ulaFileName)
	if b, err := os.ReadFile(path); err == nil {
		if p, err := netip.ParsePrefix(strings.TrimSpace(string(b))); err == nil && p.Bits() == 48 && p.Addr().Is6() && p.Addr().As16()[0] == 0xfd {
			return p
		}
		r.logf("ipv6: %s does not hold a ULA /48; generating another", path)
	}
	p, err := config.GenerateULA(rand.Reader)
	if err != nil {
		r.logf("ipv6: no ULA prefix: %v", err)
		return netip.Prefix{}
	}
	if err := atomicfile.Write(path, []byte(p.String()+"\n"), 0o644); err != nil {
		r.logf("ipv6: generated ULA %v, not stored (%v): it changes at the next start", p, err)
	} else {
		r.logf("ipv6: generated ULA prefix %v (stored in %s)", p, path)
	}
	return p
}
