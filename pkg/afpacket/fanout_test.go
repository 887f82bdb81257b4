//go:build linux

package afpacket

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/passgate/passgate/pkg/link"
	"github.com/passgate/passgate/pkg/link/linktest"
)

// udpFrame is an IPv4/UDP frame of flow sport -> 9 carrying seq, so the
// kernel's flow hash sees addresses and ports.
func udpFrame(dst, src net.HardwareAddr, sport uint16, seq uint32) []byte {
	f := make([]byte, 14+20+8+4)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:16], []byte{192, 0, 2, 1})
	copy(ip[16:20], []byte{198, 51, 100, 1})
	var s uint32
	for i := 0; i < 20; i += 2 {
		s += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(s))
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], 12)
	binary.BigEndian.PutUint32(udp[8:], seq)
	return f
}

func openGroup(tb testing.TB, ns, ifname string, cfg *Config, n int) []*Link {
	tb.Helper()
	var ls []*Link
	var err error
	inNS(tb, ns, func() { ls, err = OpenGroup(ifname, cfg, n) })
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		for _, l := range ls {
			l.Close()
		}
	})
	return ls
}

// readAll reads every member of a group side by side for d and returns, per
// member, the frames kept.
func readAll(members []*Link, d time.Duration, keep func([]byte) bool) [][][]byte {
	got := make([][][]byte, len(members))
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for i, l := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]link.Frame, 64)
			for time.Now().Before(deadline) {
				n, err := l.ReadBatch(buf)
				if err != nil {
					return
				}
				for _, f := range buf[:n] {
					if keep(f.Data) {
						got[i] = append(got[i], append([]byte(nil), f.Data...))
					}
				}
			}
		}()
	}
	wg.Wait()
	return got
}

func isUDP9(f []byte) bool {
	return len(f) >= 46 && f[12] == 8 && f[13] == 0 && f[23] == 17 && binary.BigEndian.Uint16(f[36:]) == 9
}

// TestGroupSharesFlows sends 64 flows of 4 frames each to a group of two
// links: every frame arrives once, all of a flow's frames on one member and
// in order, and both members get flows.
func TestGroupSharesFlows(t *testing.T) {
	ns := vethNS(t)
	cfg := &Config{PollTimeout: 20 * time.Millisecond}
	group := openGroup(t, ns, "pgla", cfg, 2)
	b := openAF(t, ns, "pglb", cfg)
	const flows, per = 64, 4
	var frames [][]byte
	for k := range per {
		for f := range flows {
			frames = append(frames, udpFrame(group[0].MAC(), b.MAC(), uint16(1000+f), uint32(k)))
		}
	}
	if err := link.WriteFrames(b, frames...); err != nil {
		t.Fatal(err)
	}
	got := readAll(group, 1500*time.Millisecond, isUDP9)
	member := map[uint16]int{}
	next := map[uint16]uint32{}
	total := 0
	for m, fs := range got {
		for _, f := range fs {
			sport, seq := binary.BigEndian.Uint16(f[34:]), binary.BigEndian.Uint32(f[42:])
			if prev, ok := member[sport]; ok && prev != m {
				t.Errorf("flow %d arrived on members %d and %d", sport, prev, m)
			}
			member[sport] = m
			if seq != next[sport] {
				t.Errorf("flow %d on member %d: frame %d arrived where %d was due", sport, m, seq, next[sport])
			}
			next[sport] = seq + 1
			total++
		}
	}
	if total != flows*per {
		t.Errorf("the group read %d frames, want %d (per member: %d, %d)", total, flows*per, len(got[0]), len(got[1]))
	}
	if len(got[0]) == 0 || len(got[1]) == 0 {
		t.Errorf("one member got every flow (per member: %d, %d frames); the group does not share", len(got[0]), len(got[1]))
	}
}

// TestGroupIgnoresOwnFrames: frames the members send, from their rings and
// as super-packets (which leave through a socket outside the group), and
// frames another socket sends on the port are not read back by any member.
func TestGroupIgnoresOwnFrames(t *testing.T) {
	ns := vethNS(t)
	cfg := &Config{PollTimeout: 20 * time.Millisecond}
	group := openGroup(t, ns, "pgla", cfg, 3)
	b := openAF(t, ns, "pglb", cfg)
	for i, l := range group {
		var frames [][]byte
		for f := range 16 {
			frames = append(frames, udpFrame(b.MAC(), l.MAC(), uint16(2000+f), uint32(i)))
		}
		if err := link.WriteFrames(l, frames...); err != nil {
			t.Fatal(err)
		}
		super, o := linktest.TCPSuper(b.MAC(), l.MAC(), 1448, 30000, uint16(i))
		if n, err := l.WriteBatch([]link.Frame{{Data: super, Offload: o}}); n != 1 || err != nil {
			t.Fatalf("member %d: super-packet: %d, %v", i, n, err)
		}
	}
	// The peer sees 3 × 16 frames and the three super-packets (as one
	// frame each, or segmented on the way).
	udp, _ := linktest.Read(t, b, 48, 5*time.Second, isUDP9)
	if len(udp) != 48 {
		t.Fatalf("peer received %d of 48 frames", len(udp))
	}
	back := readAll(group, 300*time.Millisecond, func([]byte) bool { return true })
	for m, fs := range back {
		if len(fs) != 0 {
			t.Errorf("member %d read back %d frames transmitted on its own interface", m, len(fs))
		}
	}
}

func TestOpenGroupSizes(t *testing.T) {
	for _, n := range []int{-1, 0, MaxGroup + 1} {
		if _, err := OpenGroup("lo", nil, n); err == nil {
			t.Errorf("OpenGroup with %d links: no error", n)
		}
	}
}
