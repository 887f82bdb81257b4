//go:build linux

package afpacket

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// htons converts a 16-bit protocol number to network byte order for
// sockaddr_ll and socket(2).
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// packetOutgoing is the kernel's PACKET_OUTGOING packet type.
const packetOutgoing = 4

// ignoreOutgoing makes socket fd skip frames transmitted on its interface
// (by this socket, other sockets or the kernel). Without it every frame
// routerd sends would be copied back into its own receive ring.
// PACKET_IGNORE_OUTGOING (Linux 4.20) drops them before they reach the
// socket; older kernels get a classic BPF filter on the packet type that
// does the same, a little later.
func ignoreOutgoing(fd int, forceBPF bool) error {
	if !forceBPF {
		err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOPROTOOPT) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", err)
		}
	}
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: 1},
		bpf.RetConstant{Val: 0x40000}, // accept, whole frame
		bpf.RetConstant{Val: 0},       // drop
	})
	if err != nil {
		return fmt.Errorf("assemble outgoing filter: %w", err)
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach outgoing filter: %w", err)
	}
	return nil
}

// setBuffer sets a socket buffer size, beyond the system maximum if the
// process may (SO_SNDBUFFORCE, SO_RCVBUFFORCE need CAP_NET_ADMIN).
func setBuffer(fd, force, plain, size int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size); err == nil {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size)
}

// bypassQdisc sets PACKET_QDISC_BYPASS: frames go to the driver's queue
// directly (dev_direct_xmit), skipping the interface's queueing discipline.
// Kernels before 3.14 lack it; they send through the qdisc, which is only
// slower.
func bypassQdisc(fd int) error {
	err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	if err != nil && !errors.Is(err, unix.ENOPROTOOPT) {
		return fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
	}
	return nil
}

// openBulk opens the socket that transmits super-packets: a packet socket
// bound to the interface with protocol 0, so it receives nothing, with a
// virtio_net_hdr before every frame. A socket with a TX ring sends only
// through the ring, hence the second socket. It never bypasses the
// queueing discipline: dev_direct_xmit drops a packet that needs software
// segmentation instead of segmenting it.
func openBulk(ifindex int, sndbuf int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail("PACKET_VNET_HDR", err)
	}
	if err := setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, sndbuf); err != nil {
		return fail("send buffer", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		return fail("bind", err)
	}
	return fd, nil
}
