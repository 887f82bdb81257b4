package link_test

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/netconf"
)

// A TAP link in a throw-away namespace: the kernel's frames come out of
// ReadBatch, and frames written are received by the kernel (it answers ARP
// for its address).
func TestTAPLink(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatalf("netns: %v (tests need root)", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatalf("new network namespace: %v (tests need root)", err)
	}
	defer func() { netns.Set(orig); ns.Close() }()
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	f, err := netconf.SetupSelf(netconf.SelfConfig{Name: "pgtap0", MAC: mac, MTU: 1500,
		Address: netip.MustParsePrefix("192.168.77.1/24"), NextHop: netip.MustParseAddr("192.168.77.254"),
		NextHopMAC: net.HardwareAddr{0x02, 0, 0, 0, 0, 0xfe}})
	if err != nil {
		t.Fatal(err)
	}
	tap := link.NewTAP(f, "pgtap0", 1500, mac, 20*time.Millisecond)
	defer tap.Close()
	// ARP request for the kernel's address, from a host on the segment.
	host := net.HardwareAddr{0x02, 0, 0, 0, 0, 9}
	req := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	req = append(req, host...)
	req = append(req, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1)
	req = append(req, host...)
	req = append(req, 192, 168, 77, 9, 0, 0, 0, 0, 0, 0, 192, 168, 77, 1)
	if n, err := tap.WriteBatch(link.Plain(req)); n != 1 || err != nil {
		t.Fatalf("write: %d %v", n, err)
	}
	got, err := link.ReadFrames(tap, 1, 2*time.Second)
	for err == nil && !(len(got[0]) >= 42 && got[0][12] == 8 && got[0][13] == 6 && got[0][21] == 2) {
		got, err = link.ReadFrames(tap, 1, 2*time.Second) // skip IPv6 or other chatter
	}
	if err != nil {
		t.Fatalf("no ARP reply from the kernel: %v", err)
	}
	if net.HardwareAddr(got[0][0:6]).String() != host.String() {
		t.Fatalf("ARP reply to %v", net.HardwareAddr(got[0][0:6]))
	}
	// Idle: ReadBatch returns after the poll timeout with nothing.
	start := time.Now()
	frames := make([]link.Frame, 8)
	for {
		n, err := tap.ReadBatch(frames)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if time.Since(start) > time.Second {
		t.Fatal("poll timeout not honoured")
	}
	tap.Close()
	if _, err := tap.ReadBatch(frames); err != link.ErrClosed {
		t.Fatalf("after Close: %v", err)
	}
}
