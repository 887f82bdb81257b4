package main

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/passgate/passgate/pkg/wan"
)

// wanFrames is where the data plane hands WAN DHCP frames: the running
// client's FrameConn, or nowhere (static mode, or not started yet).
type wanFrames struct{ conn atomic.Pointer[wan.FrameConn] }

func (w *wanFrames) deliver(frame []byte) {
	if c := w.conn.Load(); c != nil {
		c.Deliver(frame)
	}
}

// startWANDHCP runs the WAN DHCP client until ctx ends. Its events move the
// NAT's external address: a new address flushes the flows of the old one,
// a lost lease leaves the WAN "waiting".
func (r *router) startWANDHCP(ctx context.Context) {
	fc := wan.NewFrameConn(r.wanMAC, r.dp.SendWAN, r.dp.ResolveWAN)
	r.wanFrames.conn.Store(fc)
	client, err := wan.NewDHCP(wan.DHCPConfig{Transport: fc, HWAddr: r.wanMAC, Hostname: r.cfg.System.Hostname,
		StateDir: r.stateDir, Logf: r.logf})
	if err != nil {
		r.logf("wan: dhcp client: %v", err)
		return
	}
	go func() {
		err := client.Run(ctx, func(ev wan.Event) {
			switch e := ev.(type) {
			case wan.LeaseAcquired:
				r.setWAN(e.Addr, e.Gateway, e.DNS)
				r.announce()
			case wan.LeaseChanged:
				r.setWAN(e.Addr, e.Gateway, e.DNS)
				r.announce()
			case wan.LeaseRenewed:
				r.setWAN(e.Addr, e.Gateway, e.DNS)
			case wan.LeaseLost:
				r.logf("wan: lease on %v lost (%v)", e.Addr, e.Reason)
				r.setWAN(netip.Prefix{}, netip.Addr{}, nil)
				r.announce()
			}
		})
		if err != nil && ctx.Err() == nil {
			r.logf("wan: dhcp client stopped: %v", err)
		}
	}()
}

// announce prints the ready line again with the current WAN address.
func (r *router) announce() {
	r.mu.Lock()
	lan := r.cfg.Interfaces.LAN.Address
	w := r.wanString()
	r.mu.Unlock()
	fmt.Printf("passgate ready: lan %v wan %s\n", lan, w)
}
