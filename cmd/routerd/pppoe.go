package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/passgate/passgate/pkg/config"
	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/wan"
	"github.com/passgate/passgate/pkg/wanport"
)

// pppoeFrames is where the WAN port hands PPPoE discovery and PPP control
// frames: the running PPPoE client, or nowhere.
type pppoeFrames struct {
	to atomic.Pointer[func(frame []byte)]
}

func (p *pppoeFrames) deliver(frame []byte) {
	if f := p.to.Load(); f != nil {
		(*f)(frame)
	}
}

// startWANPPPoE runs the PPPoE client until ctx ends. Its session carries
// IPv4 in the WAN port; its address moves the NAT as a DHCP lease does
// (a new address flushes the old one's flows), and the concentrator is
// the next hop, with no ARP.
func (r *router) startWANPPPoE(ctx context.Context) {
	w := r.running.Interfaces.WAN
	var mode *wan.PPPoE
	mode, err := wan.NewPPPoE(wan.PPPoEConfig{MAC: r.wanMAC, Username: w.PPPoE.Username, Password: w.PPPoE.Password,
		ServiceName: w.PPPoE.ServiceName, ACName: w.PPPoE.ACName, MTU: w.PPPMTU(), Jumbo: w.PPPoE.Jumbo,
		EchoInterval: w.PPPoE.EchoInterval, EchoFailures: w.PPPoE.EchoFailures,
		Send: r.dp.SendWAN,
		Session: func(s *wan.SessionInfo) {
			if s == nil {
				r.wanPort.SetSession(nil)
				return
			}
			r.wanPort.SetSession(&wanport.Session{ID: s.ID, AC: s.AC, MTU: s.MTU})
		},
		Logf: r.logf})
	if err != nil {
		r.logf("wan: pppoe: %v", err)
		return
	}
	r.pppoe.Store(mode)
	deliver := mode.Deliver
	r.pppoeFrames.to.Store(&deliver)
	go func() {
		err := mode.Run(ctx, func(ev wan.Event) {
			switch e := ev.(type) {
			case wan.LeaseAcquired:
				r.dp.SetWANPeer(e.Gateway, mode.Status().AC)
				r.setWANLinkMTU(e.MTU)
				r.setWAN(e.Addr, e.Gateway, e.DNS)
				r.announce()
			case wan.LeaseChanged:
				r.dp.SetWANPeer(e.Gateway, mode.Status().AC)
				r.setWANLinkMTU(e.MTU)
				r.setWAN(e.Addr, e.Gateway, e.DNS)
				r.announce()
			case wan.LeaseRenewed:
				r.dp.SetWANPeer(e.Gateway, mode.Status().AC)
				r.setWANLinkMTU(e.MTU)
				r.setWAN(e.Addr, e.Gateway, e.DNS)
			case wan.LeaseLost:
				r.logf("wan: pppoe address %v lost (%v)", e.Addr, e.Reason)
				r.dp.SetWANPeer(netip.Addr{}, nil)
				r.setWANLinkMTU(0)
				r.setWAN(netip.Prefix{}, netip.Addr{}, nil)
				r.announce()
			}
		})
		if err != nil && ctx.Err() == nil {
			r.logf("wan: pppoe client stopped: %v", err)
		}
	}()
}

// setWANLinkMTU makes the NAT engine's WAN MTU the link's negotiated one
// when that is smaller than the configuration's (0: the configuration's).
func (r *router) setWANLinkMTU(mtu int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.wanLinkMTU == mtu {
		return
	}
	r.wanLinkMTU = mtu
	nc := r.natConfigLocked(config.Running(r.running, r.cfg))
	var err error
	r.dp.Do(func(e *nat.Engine) {
		if e.Config().WANMTU != nc.WANMTU {
			_, err = e.Reconfigure(nc)
		}
	})
	if err != nil {
		r.logf("wan: link mtu %d: the NAT refused it: %v", mtu, err)
	}
}

// wanLine is what show interfaces says of the WAN line's framing: the
// ISP's VLAN, the PPPoE session.
func (r *router) wanLine() []string {
	if r.wanPort == nil {
		return nil
	}
	run := r.running.Interfaces.WAN
	c := r.wanPort.Counters()
	var out []string
	if run.VLAN.ID != 0 {
		out = append(out, fmt.Sprintf("vlan %d, priority %d; %d frames untagged or of another VLAN ignored",
			run.VLAN.ID, run.VLAN.Priority, c.RxWrongVLAN))
	}
	if m := r.pppoe.Load(); m != nil {
		st := m.Status()
		line := "pppoe " + st.State
		if st.SessionID != 0 {
			line += fmt.Sprintf(", session %#04x with %q (%v)", st.SessionID, st.ACName, net.HardwareAddr(st.AC))
		}
		if !st.Since.IsZero() {
			line += fmt.Sprintf(" for %v", time.Since(st.Since).Round(time.Second))
		}
		out = append(out, line)
		if st.State == "up" {
			out = append(out, fmt.Sprintf("pppoe mtu %d (ours %d, peer %d), auth %s, %d session(s) since start",
				st.MTU, st.MRU, st.PeerMRU, st.Auth, st.Sessions))
		}
		if st.LastFailure != "" {
			out = append(out, "pppoe last failure: "+st.LastFailure)
		}
	}
	return out
}
