package ndp6

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// mldReport is a report as gopacket decodes it (the oracle).
type mldReport struct {
	src, dst netip.Addr
	typ      uint8
	records  []string // "TYPE group", as gopacket names the record types
}

// decodeMLD checks with gopacket that f is an MLD report or done as RFC
// 3810 §5 and RFC 2710 §3 frame it — hop limit 1, a Hop-by-Hop header
// with Router Alert 0, a valid checksum — and returns what it says.
func decodeMLD(t testing.TB, f []byte) mldReport {
	t.Helper()
	pkt := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
	if el := pkt.ErrorLayer(); el != nil {
		t.Fatalf("gopacket cannot decode %x: %v", f, el.Error())
	}
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	hbh, _ := pkt.Layer(layers.LayerTypeIPv6HopByHop).(*layers.IPv6HopByHop)
	icmp, _ := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if eth == nil || ip == nil || hbh == nil || icmp == nil {
		t.Fatalf("not Ethernet/IPv6/Hop-by-Hop/ICMPv6: %v", pkt)
	}
	if ip.HopLimit != 1 {
		t.Errorf("hop limit %d, want 1", ip.HopLimit)
	}
	alert := false
	for _, o := range hbh.Options {
		if o.OptionType == 5 && len(o.OptionData) == 2 && o.OptionData[0] == 0 && o.OptionData[1] == 0 {
			alert = true
		}
	}
	if !alert {
		t.Errorf("no Router Alert (MLD) option: %+v", hbh.Options)
	}
	icmp.SetNetworkLayerForChecksum(ip)
	if err, res := icmp.VerifyChecksum(); err != nil || !res.Valid {
		t.Fatalf("ICMPv6 checksum wrong: %v %+v", err, res)
	}
	if want := MulticastMAC(addr(ip.DstIP)); [6]byte(eth.DstMAC) != want || [6]byte(eth.SrcMAC) != routerMAC {
		t.Errorf("Ethernet %v → %v for %v", eth.SrcMAC, eth.DstMAC, ip.DstIP)
	}
	r := mldReport{src: addr(ip.SrcIP), dst: addr(ip.DstIP), typ: icmp.TypeCode.Type()}
	switch r.typ {
	case TypeMLDv2Report:
		rep, _ := pkt.Layer(layers.LayerTypeMLDv2MulticastListenerReport).(*layers.MLDv2MulticastListenerReportMessage)
		if rep == nil {
			t.Fatalf("not an MLDv2 report: %v", pkt)
		}
		for _, rec := range rep.MulticastAddressRecords {
			r.records = append(r.records, fmt.Sprintf("%v %v", rec.RecordType, addr(rec.MulticastAddress)))
		}
	case TypeMLDv1Report, TypeMLDv1Done:
		g := icmp.Payload[4:20]
		r.records = append(r.records, fmt.Sprintf("v1 %v", netip.AddrFrom16([16]byte(g))))
	default:
		t.Fatalf("ICMPv6 type %d is not an MLD report", r.typ)
	}
	slices.Sort(r.records)
	return r
}

// query builds an MLD query from src as a querier sends it: MLDv2 (28
// bytes) or MLDv1 (24), hop limit 1, Hop-by-Hop with Router Alert. The
// ICMPv6 part and its checksum come from gopacket.
func query(t testing.TB, src netip.Addr, group netip.Addr, maxDelay time.Duration, v1 bool) []byte {
	t.Helper()
	dst := netip.MustParseAddr("ff02::1")
	if group.IsValid() {
		dst = group
	} else {
		group = netip.IPv6Unspecified()
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: layers.IPProtocolICMPv6, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(TypeMLDQuery, 0)}
	icmp.SetNetworkLayerForChecksum(ip)
	body := make([]byte, 24)
	binary.BigEndian.PutUint16(body[0:], uint16(maxDelay/time.Millisecond))
	g := group.As16()
	copy(body[4:20], g[:])
	if v1 {
		body = body[:20]
	}
	eth := &layers.Ethernet{SrcMAC: hw(hostMAC), DstMAC: hw(MulticastMAC(dst)), EthernetType: layers.EthernetTypeIPv6}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, icmp, gopacket.Payload(body)); err != nil {
		t.Fatal(err)
	}
	// Put the Hop-by-Hop header in: the checksum's pseudo-header does not
	// cover it.
	f := buf.Bytes()
	out := append([]byte(nil), f[:EthHeaderLen+IPv6HeaderLen]...)
	out = append(out, protoICMPv6, 0, 5, 2, 0, 0, 1, 0)
	out = append(out, f[EthHeaderLen+IPv6HeaderLen:]...)
	out[EthHeaderLen+6] = 0
	binary.BigEndian.PutUint16(out[EthHeaderLen+4:], uint16(len(out)-EthHeaderLen-IPv6HeaderLen))
	return out
}

// run ticks n from `from` to `to` in steps of 10 ms and returns the MLD
// frames it sent, decoded, with the times.
func runMLD(t *testing.T, n *Node, from, to time.Duration) (reps []mldReport, at []time.Duration) {
	t.Helper()
	for now := from; now <= to; now += 10 * time.Millisecond {
		out, _ := n.Tick(nil, nil, now)
		for _, f := range out {
			if isMLD(f) {
				reps = append(reps, decodeMLD(t, f))
				at = append(at, now)
			}
		}
	}
	return reps, at
}

var querier = netip.MustParseAddr("fe80::99")

// newMLDNode is newNode with ff02::2 as an extra group; its first
// reports are drained.
func newMLDNode(t *testing.T) *Node {
	n := newNode(t, func(c *Config) { c.Groups = []netip.Addr{allRouters} })
	if reps, _ := runMLD(t, n, 0, 2*time.Second); len(reps) != 2 {
		t.Fatalf("%d reports at start, want 2 (robustness)", len(reps))
	}
	return n
}

// TestRFC4862_5_4_2_JoinBeforeDADProbe: adding a tentative address joins
// its solicited-node group with a report sent before the first DAD probe
// (from ::, the link-local being tentative), repeated once within a
// second; the group is reported once although two addresses share it.
func TestRFC4862_5_4_2_JoinBeforeDADProbe(t *testing.T) {
	n, err := New(Config{MAC: routerMAC, DADTransmits: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	n.AddAddress(routerLL, 0)
	n.AddAddress(routerGUA, 0)
	var first []byte
	var firstAt time.Duration
	for now := time.Duration(0); now <= MaxRtrSolicitationDelay && first == nil; now += 10 * time.Millisecond {
		out, _ := n.Tick(nil, nil, now)
		for i, f := range out {
			if isMLD(f) {
				first, firstAt = f, now
				if i+1 < len(out) && !isMLD(out[i+1]) || i == len(out)-1 {
					break
				}
			} else if first == nil {
				t.Fatalf("a DAD probe at %v before any MLD report", now)
			}
		}
	}
	if first == nil {
		t.Fatal("no MLD report within MaxRtrSolicitationDelay")
	}
	r := decodeMLD(t, first)
	want := []string{"CHANGE_TO_EXCLUDE_MODE ff02::1:ff00:1"}
	if r.typ != TypeMLDv2Report || r.src != netip.IPv6Unspecified() || r.dst != allMLDv2Routers || !slices.Equal(r.records, want) {
		t.Errorf("first report %+v, want an MLDv2 report from :: to ff02::16 with %v", r, want)
	}
	reps, at := runMLD(t, n, firstAt+10*time.Millisecond, firstAt+3*time.Second)
	if len(reps) != 1 || at[0]-firstAt > mldUnsolicitedDelay || !slices.Equal(reps[0].records, want) {
		t.Errorf("after the first: %+v at %v, want one repeat within %v", reps, at, mldUnsolicitedDelay)
	}
	// Once DAD is over, reports come from the link-local address.
	end := firstAt + 3*time.Second
	n.HandleMLD(nil, query(t, querier, netip.Addr{}, 0, false), end)
	if reps, _ := runMLD(t, n, end, end+time.Second); len(reps) != 1 || reps[0].src != routerLL {
		t.Errorf("answer after DAD: %+v, want one from %v", reps, routerLL)
	}
}

// TestRFC3810_6_1_StateChanges: a new address's group is joined
// (CHANGE_TO_EXCLUDE), a removed one's left (CHANGE_TO_INCLUDE with no
// sources), each reported twice; a group still used by another address
// is not left.
func TestRFC3810_6_1_StateChanges(t *testing.T) {
	n := newMLDNode(t)
	other := netip.MustParseAddr("2001:db8:1:2::abcd")
	n.AddAddress(other, sec(3))
	reps, _ := runMLD(t, n, sec(3), sec(5))
	if len(reps) != 2 || !slices.Equal(reps[0].records, []string{"CHANGE_TO_EXCLUDE_MODE ff02::1:ff00:abcd"}) || reps[0].src != routerLL {
		t.Fatalf("join: %+v", reps)
	}
	n.RemoveAddress(routerULA) // ff02::1:ff00:1 is still routerLL's
	if reps, _ := runMLD(t, n, sec(6), sec(8)); len(reps) != 0 {
		t.Errorf("removing an address whose group is still in use: %+v", reps)
	}
	n.RemoveAddress(other)
	reps, _ = runMLD(t, n, sec(9), sec(11))
	if len(reps) != 2 || !slices.Equal(reps[0].records, []string{"CHANGE_TO_INCLUDE_MODE ff02::1:ff00:abcd"}) {
		t.Errorf("leave: %+v", reps)
	}
}

// TestRFC3810_6_2_QueriesAnswered: a general query is answered within its
// maximum response delay with the current state of every group
// (MODE_IS_EXCLUDE); a group-specific query only for a group the node is
// in; an MLDv1 query switches the node to MLDv1 reports, one per group,
// sent to the group.
func TestRFC3810_6_2_QueriesAnswered(t *testing.T) {
	n := newMLDNode(t)
	n.HandleMLD(nil, query(t, querier, netip.Addr{}, time.Second, false), sec(3))
	reps, at := runMLD(t, n, sec(3), sec(6))
	want := []string{"MODE_IS_EXCLUDE ff02::1:ff00:1", "MODE_IS_EXCLUDE ff02::2"}
	if len(reps) != 1 || !slices.Equal(reps[0].records, want) || at[0] > sec(4) {
		t.Fatalf("general query: %+v at %v, want one report of %v within 1 s", reps, at, want)
	}

	n.HandleMLD(nil, query(t, querier, netip.MustParseAddr("ff02::1:ff00:77"), time.Second, false), sec(7))
	if reps, _ := runMLD(t, n, sec(7), sec(9)); len(reps) != 0 {
		t.Errorf("a query for a group the node is not in was answered: %+v", reps)
	}
	n.HandleMLD(nil, query(t, querier, allRouters, time.Second, false), sec(10))
	if reps, _ := runMLD(t, n, sec(10), sec(12)); len(reps) != 1 || !slices.Equal(reps[0].records, []string{"MODE_IS_EXCLUDE ff02::2"}) {
		t.Errorf("group-specific query: %+v", reps)
	}

	n.HandleMLD(nil, query(t, querier, netip.Addr{}, 500*time.Millisecond, true), sec(13))
	reps, _ = runMLD(t, n, sec(13), sec(15))
	var got []string
	for _, r := range reps {
		if r.typ != TypeMLDv1Report || r.dst.String() != strings.TrimPrefix(r.records[0], "v1 ") {
			t.Errorf("MLDv1 mode: %+v, want a v1 report sent to its group", r)
		}
		got = append(got, r.records...)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"v1 ff02::1:ff00:1", "v1 ff02::2"}) {
		t.Errorf("MLDv1 answer: %v", got)
	}
	// In MLDv1 mode a removed address's group is left with a Done to
	// ff02::2; after the older-querier timeout, MLDv2 again.
	extra := netip.MustParseAddr("fd00::5")
	n.AddAddress(extra, sec(16))
	runMLD(t, n, sec(16), sec(18))
	n.RemoveAddress(extra)
	reps, _ = runMLD(t, n, sec(19), sec(21))
	if len(reps) != 2 || reps[0].typ != TypeMLDv1Done || reps[0].dst != allRouters {
		t.Errorf("MLDv1 leave: %+v", reps)
	}
	n.HandleMLD(nil, query(t, querier, netip.Addr{}, time.Second, false), sec(13)+OlderQuerierTimeout)
	reps, _ = runMLD(t, n, sec(13)+OlderQuerierTimeout, sec(15)+OlderQuerierTimeout)
	if len(reps) != 1 || reps[0].typ != TypeMLDv2Report {
		t.Errorf("after the older-querier timeout: %+v, want MLDv2", reps)
	}
}

// TestRFC3810_5_1_14_InvalidQueriesIgnored: queries from a global source,
// with a hop limit other than 1, a bad checksum, a short body or cut off
// change nothing and are counted.
func TestRFC3810_5_1_14_InvalidQueriesIgnored(t *testing.T) {
	n := newMLDNode(t)
	good := query(t, querier, netip.Addr{}, time.Second, false)
	mod := func(f func([]byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	bad := map[string][]byte{
		"global source": query(t, netip.MustParseAddr("2001:db8::99"), netip.Addr{}, time.Second, false),
		"hop limit 255": mod(func(b []byte) []byte { b[EthHeaderLen+7] = 255; return b }),
		"bad checksum":  mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }),
		"short body": mod(func(b []byte) []byte {
			b = b[:len(b)-6]
			binary.BigEndian.PutUint16(b[EthHeaderLen+4:], uint16(len(b)-EthHeaderLen-IPv6HeaderLen))
			return b
		}),
		"cut off":  mod(func(b []byte) []byte { return b[:len(b)-6] }),
		"not IPv6": mod(func(b []byte) []byte { b[12] = 0x08; b[13] = 0; return b }),
	}
	for name, f := range bad {
		before := n.Counters().MLDInvalid
		n.HandleMLD(nil, f, sec(3))
		if n.Counters().MLDInvalid != before+1 {
			t.Errorf("%s: not counted as invalid", name)
		}
	}
	if reps, _ := runMLD(t, n, sec(3), sec(6)); len(reps) != 0 {
		t.Errorf("invalid queries were answered: %+v", reps)
	}
}

// TestAttack_MLDQueryFlood: ten thousand queries within a second get one
// answer; the work and memory are bounded.
func TestAttack_MLDQueryFlood(t *testing.T) {
	n := newMLDNode(t)
	for i := range 10000 {
		g := netip.Addr{}
		if i%2 == 1 {
			g = netip.AddrFrom16([16]byte{0xff, 0x02, 14: byte(i >> 8), 15: byte(i)})
		}
		n.HandleMLD(nil, query(t, querier, g, 8*time.Second, false), sec(3)+time.Duration(i)*time.Microsecond)
	}
	if reps, _ := runMLD(t, n, sec(3), sec(14)); len(reps) != 1 {
		t.Errorf("%d reports for a flood of queries, want 1", len(reps))
	}
}

func TestMLDConfigErrors(t *testing.T) {
	for name, groups := range map[string][]netip.Addr{
		"unicast":   {routerGUA},
		"all nodes": {allNodes},
		"too many":  slices.Repeat([]netip.Addr{allRouters}, maxExtraGroups+1),
	} {
		if _, err := New(Config{MAC: routerMAC, Groups: groups}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestIsMLDQuery tells queries from reports and from ND.
func TestIsMLDQuery(t *testing.T) {
	q := query(t, querier, netip.Addr{}, time.Second, false)
	if !IsMLDQuery(q[EthHeaderLen:]) {
		t.Error("a query is not recognised")
	}
	n := newMLDNode(t)
	n.AddAddress(netip.MustParseAddr("fd00::9"), sec(3))
	reps, _ := n.Tick(nil, nil, sec(3))
	for _, f := range reps {
		if IsMLDQuery(f[EthHeaderLen:]) {
			t.Error("a report taken for a query")
		}
	}
	if IsMLDQuery(hostNS(t, hostMAC, hostGUA, routerGUA)[EthHeaderLen:]) || IsMLDQuery(make([]byte, 20)) {
		t.Error("not a query taken for one")
	}
}

// FuzzHandleMLD: arbitrary frames never panic, and at most one answer is
// ever pending.
func FuzzHandleMLD(f *testing.F) {
	f.Add(query(f, querier, netip.Addr{}, time.Second, false))
	f.Add(query(f, querier, allRouters, time.Second, true))
	f.Fuzz(func(t *testing.T, frame []byte) {
		n, err := New(Config{MAC: routerMAC, DADTransmits: -1, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		n.AddAddress(routerLL, 0)
		n.Tick(nil, nil, 0)
		n.HandleMLD(nil, frame, time.Second)
		n.HandleMLD(nil, frame, time.Second)
		out, _ := n.Tick(nil, nil, time.Second+MaxMLDResponse)
		reports := 0
		for _, f := range out {
			if isMLD(f) && f[EthHeaderLen+IPv6HeaderLen+8] == TypeMLDv2Report {
				reports++
			}
		}
		if reports > 2 { // the second join repeat may fall due too
			t.Fatalf("%d reports", reports)
		}
	})
}
