package tcfast

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// BenchmarkPrograms measures both programs with BPF_PROG_TEST_RUN and
// reports the kernel's own time per frame (the run loop's ktime, no
// system call in it) as ns/frame. Each operation is about 1,000,000
// frames, so -benchtime=1x is enough.
//
// Benchmark runs get no context: the frame arrives on ifindex 0 through
// the namespace's loopback device (MAC 00:00:00:00:00:00), so the flows
// are keyed on ifindex 0 and the frames sent to that MAC. The tc program
// rewrites the frame in place and the kernel runs it again on the result:
// two entries map the flow's source to the external endpoint and back,
// both with the rewritten source MAC as FromMAC, so that every run is a
// hit, and a frame starting at TTL 255 is
// redirected 254 times before TTL 1 makes it a miss. The tc hit is
// therefore measured in runs of 254 frames, the rest in runs of
// 1,000,000.
func BenchmarkPrograms(b *testing.B) {
	fx := newProgFixture(b)
	host := netip.AddrPortFrom(hostIP, udpHostPort)
	ext := netip.AddrPortFrom(extIP, fx.udpExt)
	remote := netip.AddrPortFrom(remoteIP, udpRemotePort)
	there, err := NewKey(1, ProtoUDP, host, remote)
	must(b, err)
	back, err := NewKey(1, ProtoUDP, ext, remote)
	must(b, err)
	there.Ifindex, back.Ifindex = 0, 0 // NewKey refuses 0, the benchmark's port
	out := fx.entry(ProtoUDP, true)
	out.FromMAC = out.SrcMAC // the frame comes back from the rewrite with this source
	must(b, fx.f.put(there, out))
	out.Addr, out.Port = hostIP.As4(), udpHostPort
	must(b, fx.f.put(back, out))

	p := basePkt(ProtoUDP, true, fx.udpExt)
	p.eth.DstMAC = make([]byte, 6)
	p.eth.SrcMAC = out.SrcMAC[:]
	p.ip.TTL = 255
	hit := p.bytes(b)
	p.udp.SrcPort++
	miss := p.bytes(b)

	const frames = 1000000
	for _, c := range []struct {
		name   string
		prog   *ebpf.Program
		frame  []byte
		repeat int
		want   uint32
	}{
		{"tc/redirect", fx.f.tc, hit, 254, tcActRedirect},
		{"tc/miss", fx.f.tc, miss, frames, tcActOK},
		{"socket/drop", fx.f.sock, sockInput(hit), frames, 0},
		{"socket/miss", fx.f.sock, sockInput(miss), frames, sockAccept},
	} {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			var n int
			for b.Loop() {
				for done := 0; done < frames; done += c.repeat {
					ret, per, err := c.prog.Benchmark(c.frame, c.repeat, nil)
					if err != nil {
						b.Fatal(err)
					}
					if ret != c.want {
						b.Fatalf("verdict %#x, want %#x", ret, c.want)
					}
					total += per * time.Duration(c.repeat)
					n += c.repeat
				}
			}
			b.ReportMetric(float64(total)/float64(n), "ns/frame")
		})
	}
}
