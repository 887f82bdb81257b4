package passthrough

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/passgate/passgate/pkg/nat"
	"github.com/passgate/passgate/pkg/nat/internal/nattest"
)

func TestSwitchPPTPOffAndOnMidSession(t *testing.T) {
	r := newRig(t, nil)
	c := openCtrl(r, lan1, 40000)
	a := c.call(5, 6)
	c.greRoundTrip(5, 6, a, 1)
	// An unrelated flow must survive the switch.
	other := r.must(nat.Outbound, nattest.UDP(t, pk{Src: lan2, Dst: server, SP: 5000, DP: 5001}), nat.Forward)

	cfg := r.p.Config()
	cfg.PPTP = false
	msgs, err := r.p.SetConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0], "pptp passthrough disabled: 1 calls closed, 1 control connections dropped") {
		t.Fatalf("change report %q", msgs)
	}
	r.mustDrop(nat.Inbound, gre(t, server, extIP, a, u32(2), nil, nil), nat.ReasonBlocked)
	r.mustDrop(nat.Outbound, gre(t, lan1, server, 6, u32(2), nil, nil), nat.ReasonBlocked)
	r.mustDrop(nat.Outbound, nattest.TCP(t, pk{Src: lan1, Dst: server, SP: 40001, DP: 1723, Flags: "S"}), nat.ReasonBlocked)
	// The existing control connection was flushed: its next segment is refused too.
	r.mustDrop(nat.Outbound, nattest.TCP(t, pk{Src: lan1, Dst: server, SP: 40000, DP: 1723, Flags: "PA", Seq: c.seqOut, Payload: pptpMsg(5, 0, 0, 0)}), nat.ReasonBlocked)
	if got := r.p.Counters().PPTP.Blocked; got != 4 {
		t.Fatalf("blocked count %d, want 4", got)
	}
	d := r.must(nat.Inbound, nattest.UDP(t, pk{Src: server, Dst: extIP, SP: 5001, DP: other.SPort()}), nat.Forward)
	if d.Dst() != lan2 {
		t.Fatal("unrelated flow lost")
	}
	// Back on: a new connection and call work without restarting anything.
	cfg.PPTP = true
	if msgs, _ = r.p.SetConfig(cfg); len(msgs) != 1 || msgs[0] != "pptp passthrough enabled" {
		t.Fatalf("change report %q", msgs)
	}
	c2 := openCtrl(r, lan1, 40002)
	a2 := c2.call(5, 7)
	c2.greRoundTrip(5, 7, a2, 1)
}

func TestSwitchIPsecOffAndOn(t *testing.T) {
	r := newRig(t, nil)
	r.espOut(lan1, server, 1, 1)
	r.espIn(server, 2, 1, lan1)
	r.must(nat.Outbound, nattest.UDP(t, pk{Src: lan2, Dst: server, SP: 4500, DP: 4500, Payload: []byte{0xff}}), nat.Forward)
	cfg := r.p.Config()
	cfg.IPsec = false
	msgs, _ := r.p.SetConfig(cfg)
	if len(msgs) != 1 || msgs[0] != "ipsec passthrough disabled: 1 ESP SAs and 1 IKE sessions dropped" {
		t.Fatalf("change report %q", msgs)
	}
	r.mustDrop(nat.Outbound, esp(t, lan1, server, 1, 2), nat.ReasonBlocked)
	r.mustDrop(nat.Inbound, esp(t, server, extIP, 2, 2), nat.ReasonBlocked)
	r.mustDrop(nat.Outbound, nattest.UDP(t, pk{Src: lan1, Dst: server, SP: 500, DP: 500, Payload: ike(1, 34, false, 10)}), nat.ReasonBlocked)
	r.mustDrop(nat.Outbound, nattest.UDP(t, pk{Src: lan2, Dst: server, SP: 4500, DP: 4500, Payload: []byte{0xff}}), nat.ReasonBlocked)
	if got := r.p.Counters().IPsec.Blocked; got != 4 {
		t.Fatalf("blocked %d, want 4", got)
	}
	cfg.IPsec = true
	r.p.SetConfig(cfg)
	r.espOut(lan1, server, 1, 3)
	r.espIn(server, 2, 3, lan1)
	r.must(nat.Outbound, nattest.UDP(t, pk{Src: lan1, Dst: server, SP: 500, DP: 500, Payload: ike(1, 34, false, 10)}), nat.Forward)
}

func TestSwitchL2TPOffAndOn(t *testing.T) {
	r := newRig(t, nil)
	l2tp := func() []byte {
		return nattest.UDP(t, pk{Src: lan1, Dst: server, SP: 1701, DP: 1701, Payload: []byte{0xc8, 2}})
	}
	r.must(nat.Outbound, l2tp(), nat.Forward)
	cfg := r.p.Config()
	cfg.L2TP = false
	if msgs, _ := r.p.SetConfig(cfg); len(msgs) != 1 || msgs[0] != "l2tp passthrough disabled: 1 sessions dropped" {
		t.Fatalf("change report %q", msgs)
	}
	r.mustDrop(nat.Outbound, l2tp(), nat.ReasonBlocked)
	cfg.L2TP = true
	r.p.SetConfig(cfg)
	r.must(nat.Outbound, l2tp(), nat.Forward)
	if r.p.Counters().L2TP.Blocked != 1 {
		t.Fatal("blocked not counted")
	}
}

func TestDefaultsAllEnabled(t *testing.T) {
	c := DefaultConfig()
	if !c.PPTP || !c.L2TP || !c.IPsec || c.ESPMode != SPILearning || c.IKESharePort || c.GRETimeout.Seconds() < 600 {
		t.Fatalf("defaults %+v", c)
	}
	bad := c
	bad.GRETimeout = 10e9
	if _, err := New(newRig(t, nil).e, bad); err == nil {
		t.Fatal("GRE timeout below 600 s accepted")
	}
}

func TestClearRemovesPassthroughState(t *testing.T) {
	r := newRig(t, nil)
	c := openCtrl(r, lan1, 40000)
	a := c.call(5, 6)
	r.espUp(lan1, server, 1, 2)
	r.espUp(lan2, server, 3, 4)
	n := r.p.Clear(func(proto string, host netip.Addr) bool { return proto == "esp" && host == mustAddr(lan1) })
	if n != 1 {
		t.Fatalf("cleared %d, want lan1's one ESP SA", n)
	}
	r.mustDrop(nat.Inbound, esp(t, server, extIP, 2, 2), nat.ReasonNoMapping)
	r.espIn(server, 4, 2, lan2)
	c.greRoundTrip(5, 6, a, 1)
	if n := r.p.Clear(func(string, netip.Addr) bool { return true }); n != 2 {
		t.Fatalf("cleared %d, want the call and lan2's SA", n)
	}
	r.mustDrop(nat.Inbound, gre(t, server, extIP, a, u32(2), nil, []byte("x")), nat.ReasonNoSession)
}
