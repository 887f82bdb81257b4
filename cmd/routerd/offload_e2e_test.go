package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const offloadConfig = `
set interfaces lan device eth0
set interfaces lan address 192.168.1.1/24
set interfaces wan device eth1
set interfaces wan mode static
set interfaces wan address 203.0.113.2/24
set interfaces wan gateway 203.0.113.1
`

// TestEndToEndOffloads runs routerd between hosts whose veths keep their
// offloads at the defaults (TX checksum offload, TSO/GSO, UDP segmentation),
// as virtual machines and containers have them: frames reach routerd with
// partial checksums and as super-packets. TCP both ways and UDP (plain and
// UDP_SEGMENT) must arrive intact.
func TestEndToEndOffloads(t *testing.T) {
	l := newLabWith(t, offloadConfig, true)
	for _, h := range []string{"lan1", "wan"} {
		feats := l.mustIn(h, "ethtool", "-k", "eth0")
		for _, f := range []string{"tx-checksumming: on", "tcp-segmentation-offload: on"} {
			if !contains(feats, f) {
				t.Fatalf("%s: offloads are not at the veth defaults (%q missing):\n%s", h, f, feats)
			}
		}
	}
	l.startRouter()
	l.mustIn("lan1", "ip", "addr", "add", "192.168.1.10/24", "dev", "eth0")
	l.mustIn("lan1", "ip", "route", "add", "default", "via", "192.168.1.1")
	l.mustIn("lan1", "ping", "-c", "1", "-W", "2", "198.51.100.10") // ARP on both sides

	data, web, src := blob(t, l)

	t.Run("tcp upload: the LAN host's TSO super-packets", func(t *testing.T) {
		before := txStats(t, l, "lan1")
		uploadBlob(t, l, src, data)
		after := txStats(t, l, "lan1")
		if per := (after.Bytes - before.Bytes) / max(1, after.Packets-before.Packets); per < 3000 {
			t.Fatalf("the LAN host sent %d bytes per packet: no super-packets, the test proves nothing", per)
		}
	})
	t.Run("tcp download: the server's TSO super-packets", func(t *testing.T) {
		before := txStats(t, l, "wan")
		downloadBlob(t, l, web, data)
		after := txStats(t, l, "wan")
		if per := (after.Bytes - before.Bytes) / max(1, after.Packets-before.Packets); per < 3000 {
			t.Fatalf("the server sent %d bytes per packet: no super-packets, the test proves nothing", per)
		}
	})
	t.Run("udp with partial checksums", func(t *testing.T) {
		got := filepath.Join(l.dir, "udp.txt")
		l.start("wan", "socat", "-u", "UDP4-RECVFROM:9001,bind=198.51.100.10,reuseaddr,fork", "OPEN:"+got+",creat,append")
		time.Sleep(300 * time.Millisecond)
		for i := range 5 {
			l.mustIn("lan1", "sh", "-c", fmt.Sprintf("echo datagram-%d | socat - UDP4-SENDTO:198.51.100.10:9001", i))
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			b, _ := os.ReadFile(got)
			if bytes.Count(b, []byte("datagram-")) == 5 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("received %q", b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("udp segmentation offload (UDP_SEGMENT)", func(t *testing.T) {
		const size, n = 1200, 10
		var rx *net.UDPConn
		inNS(t, l.ns("wan"), func() {
			var err error
			if rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(198, 51, 100, 10), Port: 9002}); err != nil {
				t.Fatal(err)
			}
		})
		defer rx.Close()
		payload := make([]byte, size*(n-1)+77)
		rand.Read(payload)
		inNS(t, l.ns("lan1"), func() {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT, size); err != nil {
				t.Fatalf("UDP_SEGMENT: %v", err)
			}
			if err := unix.Sendto(fd, payload, 0, &unix.SockaddrInet4{Port: 9002, Addr: [4]byte{198, 51, 100, 10}}); err != nil {
				t.Fatalf("send: %v", err)
			}
		})
		rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 65536)
		for i := range n {
			k, err := rx.Read(buf)
			if err != nil {
				t.Fatalf("datagram %d of %d: %v", i, n, err)
			}
			want := payload[i*size : min((i+1)*size, len(payload))]
			if !bytes.Equal(buf[:k], want) {
				t.Fatalf("datagram %d: %d bytes, want %d, equal %v", i, k, len(want), bytes.Equal(buf[:k], want))
			}
		}
	})
}

// blob writes 16 MiB of random data as "blob" in the internet server's
// web root and in the lab's directory, and returns the data, the web root
// and the lab's copy.
func blob(t *testing.T, l *lab) (data []byte, web, src string) {
	t.Helper()
	data = make([]byte, 16<<20)
	rand.Read(data)
	web = l.webroot("internet")
	if err := os.WriteFile(filepath.Join(web, "blob"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	src = filepath.Join(l.dir, "blob")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data, web, src
}

// uploadBlob sends src from lan1 to a socat sink in the internet through
// the router and checks that data arrived whole.
func uploadBlob(t *testing.T, l *lab, src string, data []byte) {
	t.Helper()
	up := filepath.Join(l.dir, "up.out")
	srv := l.listenTCP("wan", 9000, "socat", "-u", "TCP4-LISTEN:9000,bind=198.51.100.10,reuseaddr", "CREATE:"+up)
	l.mustIn("lan1", "socat", "-u", "OPEN:"+src, "TCP4:198.51.100.10:9000")
	waitExit(t, srv)
	if got, _ := os.ReadFile(up); !bytes.Equal(got, data) {
		t.Fatalf("upload arrived as %d bytes (of %d), equal %v", len(got), len(data), bytes.Equal(got, data))
	}
}

// downloadBlob serves web from the internet and fetches its blob on lan1
// through the router, checking that data arrived whole.
func downloadBlob(t *testing.T, l *lab, web string, data []byte) {
	t.Helper()
	l.listenTCP("wan", 8000, "busybox", "httpd", "-f", "-p", "198.51.100.10:8000", "-h", web)
	down := filepath.Join(l.dir, "down.out")
	l.mustIn("lan1", "curl", "-sS", "--max-time", "60", "-o", down, "http://198.51.100.10:8000/blob")
	if got, _ := os.ReadFile(down); !bytes.Equal(got, data) {
		t.Fatalf("download arrived as %d bytes (of %d)", len(got), len(data))
	}
}

type ifStats struct{ Bytes, Packets uint64 }

// txStats returns what a lab host's eth0 has transmitted.
func txStats(t *testing.T, l *lab, host string) ifStats {
	t.Helper()
	var out []struct {
		Stats64 struct {
			TX ifStats `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(l.mustIn(host, "ip", "-s", "-j", "link", "show", "eth0")), &out); err != nil || len(out) != 1 {
		t.Fatalf("ip -s -j link: %v", err)
	}
	return out[0].Stats64.TX
}

func waitExit(t *testing.T, c interface{ Wait() error }) {
	t.Helper()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the receiving socat did not finish")
	}
}
