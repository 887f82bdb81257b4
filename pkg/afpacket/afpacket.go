//go:build linux

// Package afpacket is routerd's [link.Link] on a real interface: an
// AF_PACKET socket with mmap'd TPACKET_V2 receive and transmit rings,
// written on golang.org/x/sys/unix (no other packet library).
//
// Receive: the kernel copies each frame into a ring slot and flips the
// slot's status word; ReadBatch lends the frames straight from their slots
// (no copy) and hands the slots back at the next ReadBatch. When nothing is
// ready it blocks in poll(2) on the socket and an eventfd that Close
// writes, so an idle router sleeps.
//
// Transmit: WriteBatch copies each frame into a transmit ring slot, marks it
// for sending and kicks the kernel with one send(2) per batch; the kernel
// builds its packets from the slots in place. Frames bypass the interface's
// queueing discipline (PACKET_QDISC_BYPASS) unless Config.UseQdisc says a
// shaper needs it.
//
// Offloads: with PACKET_VNET_HDR (the default) a virtio_net_hdr travels
// with every frame, so partial checksums and GSO/GRO super-packets are
// received as such and may be sent as such (link.Offload). A super-packet
// larger than a receive slot is not truncated: the kernel queues a full copy
// on the socket (PACKET_COPY_THRESH), which ReadBatch reads with recv(2) in
// its place. Super-packets are sent with sendmsg(2) on a second,
// transmit-only socket that goes through the queueing discipline: the
// kernel's direct transmit (the qdisc bypass) drops every packet it would
// have to segment in software, which is any super-packet of 64 KiB and any
// on a port without TSO; the normal path segments them.
//
// The socket ignores frames leaving the interface (PACKET_IGNORE_OUTGOING,
// or an equivalent BPF filter on kernels before 4.20), so the router never
// reads back what it, or the kernel, transmits on the port. The interface is
// put in promiscuous mode through a packet-socket membership, which the
// kernel undoes when the socket closes.
package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/passgate/passgate/pkg/link"
)

// Config tunes [Open]. The zero value is the default for a small board.
type Config struct {
	// RxFrames is how many frames the receive ring holds; 0 means 1024.
	RxFrames int
	// TxFrames is how many frames the transmit ring holds; 0 means 512.
	TxFrames int
	// FrameSize is the size of one ring slot, a power of two; 0 means the
	// smallest one (at least 2048) that holds a full-size frame with the
	// slot header and virtio_net_hdr. Larger frames (super-packets) do not
	// need to fit: see the package documentation.
	FrameSize int
	// PollTimeout is how long ReadBatch waits for a frame; 0 means
	// link.DefaultPollTimeout, negative means until a frame arrives or
	// Close.
	PollTimeout time.Duration
	// TPacketVersion is 2 (TPACKET_V2) or 0 for the default, 2.
	TPacketVersion int
	// NoVnetHdr opens the socket without PACKET_VNET_HDR: partial
	// checksums are then only seen in the ring status (TP_STATUS_CSUMNOTREADY)
	// and located from the headers, and WriteBatch takes only complete
	// frames (Offloads reports false). For kernels that refuse the option
	// on a ring (Open falls back by itself) and for tests.
	NoVnetHdr bool
	// UseQdisc sends frames through the interface's queueing discipline.
	// By default they bypass it (PACKET_QDISC_BYPASS): faster, but an
	// egress shaper configured with tc on the port would be skipped.
	UseQdisc bool
	// SendBuffer bounds the bytes of sent frames in flight in the kernel
	// (SO_SNDBUF); 0 means 4 MiB.
	SendBuffer int
	// RecvBuffer bounds the super-packets queued beside the ring
	// (SO_RCVBUF); 0 means 4 MiB.
	RecvBuffer int

	// bpfOutgoingFilter forces the classic-BPF fallback for ignoring
	// outgoing frames even where PACKET_IGNORE_OUTGOING works; for tests.
	bpfOutgoingFilter bool
}

const (
	defaultRxFrames = 1024
	defaultTxFrames = 512
	minFrameSize    = 2048
	blockSize       = 128 << 10
	// slotOverhead is what a slot needs besides the frame: the receive
	// headroom before the frame (tp_mac, with the virtio_net_hdr) plus
	// slack, which also covers the transmit side's 32 + 10 bytes.
	slotOverhead = rxMinHeadroom + vnetLen + 20
	// bigBuffers is how many super-packets read past the ring one
	// ReadBatch may lend.
	bigBuffers = 16
	// bigHeadroom leaves room in a super-packet's buffer to put back a
	// VLAN tag the NIC stripped.
	bigHeadroom = link.VLANTagLen
)

// Link is a [link.Link] on an interface through an AF_PACKET socket.
type Link struct {
	name        string
	ifindex     int
	mac         net.HardwareAddr
	mtu         int
	pollTimeout time.Duration
	vnet        bool
	vl          int // vnetLen when vnet, else 0

	fd   int    // the ring socket
	bulk int    // the transmit-only socket for super-packets; -1 without vnet
	efd  int    // eventfd written by Close to wake a blocked ReadBatch
	mem  []byte // the mapping: receive ring then transmit ring
	rx   ring
	tx   ring

	rxMu     sync.Mutex // serialises ReadBatch; guards the fields below
	rxHead   int        // next slot to look at
	lent     int        // slots before rxHead lent by the last ReadBatch
	big      [][]byte   // buffers for super-packets read past the ring
	spurious int        // poll wake-ups that found nothing

	txMu    sync.Mutex // serialises WriteBatch; guards the fields below
	txHead  int        // next slot to fill
	kHead   int        // next slot the kernel will send (slots kHead..txHead wait)
	bulkMsg unix.Msghdr
	bulkIov [2]unix.Iovec
	bulkHdr [vnetLen]byte

	closed    atomic.Bool
	closeOnce sync.Once

	rxPackets, rxBytes, rxOwnDrops atomic.Uint64
	txPackets, txBytes, txDropped  atomic.Uint64
	statsMu                        sync.Mutex // guards kernelDrops and the fd for getsockopt
	kernelDrops                    uint64
}

var _ link.Link = (*Link)(nil)

// Open opens interface ifname for frame I/O. cfg may be nil for the
// defaults. The interface must exist; it should be up (frames are neither
// received nor sent while it is down, but the link stays usable and resumes
// when the interface comes up). The calling goroutine's OS thread must be in
// the interface's network namespace.
func Open(ifname string, cfg *Config) (*Link, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	fail := func(what string, err error) (*Link, error) {
		return nil, fmt.Errorf("afpacket: %s: %s: %w", ifname, what, err)
	}
	if c.TPacketVersion != 0 && c.TPacketVersion != 2 {
		return fail("config", fmt.Errorf("unsupported TPACKET version %d (want 2)", c.TPacketVersion))
	}
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return fail("look up interface", err)
	}
	if len(iface.HardwareAddr) != 6 {
		return fail("look up interface", fmt.Errorf("not an Ethernet interface (hardware address %q)", iface.HardwareAddr))
	}
	need := slotOverhead + iface.MTU + link.EthHeaderLen + link.VLANTagLen
	if c.FrameSize == 0 {
		c.FrameSize = max(minFrameSize, 1<<bits.Len(uint(need-1)))
	}
	switch {
	case c.FrameSize < need:
		return fail("config", fmt.Errorf("frame size %d too small for MTU %d (need %d)", c.FrameSize, iface.MTU, need))
	case c.FrameSize&(c.FrameSize-1) != 0 || c.FrameSize > 1<<20:
		return fail("config", fmt.Errorf("frame size %d is not a power of two up to 1 MiB", c.FrameSize))
	}
	if c.RxFrames == 0 {
		c.RxFrames = defaultRxFrames
	}
	if c.TxFrames == 0 {
		c.TxFrames = defaultTxFrames
	}
	if c.RxFrames < 8 || c.TxFrames < 8 || c.RxFrames > 1<<20 || c.TxFrames > 1<<20 {
		return fail("config", fmt.Errorf("ring sizes %d/%d frames out of range 8..1048576", c.RxFrames, c.TxFrames))
	}
	if c.PollTimeout == 0 {
		c.PollTimeout = link.DefaultPollTimeout
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = 4 << 20
	}
	if c.RecvBuffer == 0 {
		c.RecvBuffer = 4 << 20
	}
	l := &Link{
		name:        ifname,
		ifindex:     iface.Index,
		mac:         append(net.HardwareAddr(nil), iface.HardwareAddr...),
		mtu:         iface.MTU,
		pollTimeout: c.PollTimeout,
		fd:          -1,
		bulk:        -1,
		efd:         -1,
	}
	err = l.setup(&c, !c.NoVnetHdr)
	if err != nil && !c.NoVnetHdr && errors.Is(err, errVnet) {
		// A kernel without virtio_net_hdr on rings: complete frames only.
		l.release()
		err = l.setup(&c, false)
	}
	if err != nil {
		l.release()
		return fail("set up socket", err)
	}
	return l, nil
}

var errVnet = errors.New("PACKET_VNET_HDR refused")

// geometry returns a ring request for n frames of size bytes.
func geometry(n, size int) (unix.TpacketReq, ring) {
	bs := max(blockSize, size)
	per := bs / size
	blocks := (n + per - 1) / per
	req := unix.TpacketReq{Block_size: uint32(bs), Block_nr: uint32(blocks), Frame_size: uint32(size), Frame_nr: uint32(blocks * per)}
	return req, ring{frameSize: size, perBlock: per, blockSize: bs, n: blocks * per}
}

func (l *Link) setup(c *Config, vnet bool) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	l.fd = fd
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return fmt.Errorf("PACKET_VERSION 2: %w", err)
	}
	if vnet {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return fmt.Errorf("%w: %w", errVnet, err)
		}
		l.vnet, l.vl = true, vnetLen
	}
	// A frame larger than a receive slot gets a full copy queued on the
	// socket instead of arriving truncated.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_COPY_THRESH, 1); err != nil {
		return fmt.Errorf("PACKET_COPY_THRESH: %w", err)
	}
	// A transmit slot the kernel cannot parse is skipped, not left to
	// block the ring.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return fmt.Errorf("PACKET_LOSS: %w", err)
	}
	if !c.UseQdisc {
		if err := bypassQdisc(fd); err != nil {
			return err
		}
	}
	if err := ignoreOutgoing(fd, c.bpfOutgoingFilter); err != nil {
		return err
	}
	if err := setBuffer(fd, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, c.RecvBuffer); err != nil {
		return fmt.Errorf("receive buffer %d: %w", c.RecvBuffer, err)
	}
	if err := setBuffer(fd, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, c.SendBuffer); err != nil {
		return fmt.Errorf("send buffer %d: %w", c.SendBuffer, err)
	}
	rreq, rx := geometry(c.RxFrames, c.FrameSize)
	treq, tx := geometry(c.TxFrames, c.FrameSize)
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &rreq); err != nil {
		if vnet && errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%w: receive ring: %w", errVnet, err)
		}
		return fmt.Errorf("receive ring (%d frames of %d bytes): %w", rreq.Frame_nr, rreq.Frame_size, err)
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &treq); err != nil {
		if vnet && errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%w: transmit ring: %w", errVnet, err)
		}
		return fmt.Errorf("transmit ring (%d frames of %d bytes): %w", treq.Frame_nr, treq.Frame_size, err)
	}
	rsize := int(rreq.Block_size * rreq.Block_nr)
	tsize := int(treq.Block_size * treq.Block_nr)
	l.mem, err = unix.Mmap(fd, 0, rsize+tsize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("map rings (%d bytes): %w", rsize+tsize, err)
	}
	rx.mem, tx.mem = l.mem[:rsize:rsize], l.mem[rsize:]
	l.rx, l.tx = rx, tx
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.ifindex}); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	mreq := unix.PacketMreq{Ifindex: int32(l.ifindex), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fmt.Errorf("promiscuous mode: %w", err)
	}
	if vnet {
		if l.bulk, err = openBulk(l.ifindex, c.SendBuffer); err != nil {
			return fmt.Errorf("transmit socket for super-packets: %w", err)
		}
	}
	l.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	return nil
}

// release frees what setup acquired.
func (l *Link) release() {
	if l.mem != nil {
		unix.Munmap(l.mem)
		l.mem = nil
	}
	for _, fd := range []*int{&l.fd, &l.bulk, &l.efd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	l.vnet, l.vl = false, 0
}

// Name implements link.Link.
func (l *Link) Name() string { return l.name }

// MAC implements link.Link: the interface's address when it was opened.
func (l *Link) MAC() net.HardwareAddr { return l.mac }

// Ifindex is the interface's index.
func (l *Link) Ifindex() int { return l.ifindex }

// AttachFilter lets attach put a socket filter on the link's receiving
// socket (flow offload's, pkg/tcfast: AttachSocket). Such a filter
// replaces a classic one the link installed, so it must drop outgoing
// frames (PACKET_OUTGOING) itself. The transmit-only socket receives
// nothing and gets none.
func (l *Link) AttachFilter(attach func(fd int) error) error {
	if l.closed.Load() {
		return link.ErrClosed
	}
	return attach(l.fd)
}

// MTU implements link.Link: the interface's MTU when it was opened (set the
// MTU with netconf before opening the link).
func (l *Link) MTU() int { return l.mtu }

// Offloads implements link.Link: true with PACKET_VNET_HDR. The kernel then
// finishes partial checksums and segments super-packets for any device that
// cannot (software GSO), so every port accepts them.
func (l *Link) Offloads() bool { return l.vnet }

// Stats implements link.Link. RxDropped counts frames the kernel could not
// put in the receive ring because it was full, and frames lost on the way
// out of it (a super-packet whose copy was missing).
func (l *Link) Stats() link.Stats {
	l.statsMu.Lock()
	if !l.closed.Load() {
		l.refreshKernelDrops()
	}
	drops := l.kernelDrops
	l.statsMu.Unlock()
	return link.Stats{
		RxPackets: l.rxPackets.Load(),
		RxBytes:   l.rxBytes.Load(),
		RxDropped: drops + l.rxOwnDrops.Load(),
		TxPackets: l.txPackets.Load(),
		TxBytes:   l.txBytes.Load(),
		TxDropped: l.txDropped.Load(),
	}
}

// refreshKernelDrops adds the socket's drop count since the last call
// (PACKET_STATISTICS clears on read); statsMu held.
func (l *Link) refreshKernelDrops() {
	st, err := unix.GetsockoptTpacketStats(l.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err == nil {
		l.kernelDrops += uint64(st.Drops)
	}
}

// ReadBatch implements link.Link. Frames are lent from the receive ring (or,
// for super-packets larger than a slot, from a per-link buffer) and stay
// valid until the next ReadBatch or Close. An error other than
// link.ErrClosed is a port condition (for example ENETDOWN when the
// interface goes down) that has been consumed: the next call waits for
// frames again.
func (l *Link) ReadBatch(frames []link.Frame) (int, error) {
	l.rxMu.Lock()
	defer l.rxMu.Unlock()
	if l.closed.Load() {
		return 0, link.ErrClosed
	}
	l.handBack()
	if len(frames) == 0 {
		return 0, nil
	}
	var deadline time.Time
	for {
		if n := l.drain(frames); n > 0 {
			l.spurious = 0
			return n, nil
		}
		ms := -1
		if l.pollTimeout > 0 {
			wait := l.pollTimeout
			if deadline.IsZero() {
				deadline = time.Now().Add(wait)
			} else if wait = time.Until(deadline); wait <= 0 {
				return 0, nil
			}
			ms = int((wait + time.Millisecond - 1) / time.Millisecond)
		}
		if err := l.wait(ms); err != nil {
			return 0, err
		}
	}
}

// handBack returns the slots lent by the previous ReadBatch to the kernel.
func (l *Link) handBack() {
	for i := l.lent; i > 0; i-- {
		s := (l.rxHead - i + l.rx.n) % l.rx.n
		storeStatus(l.rx.slot(s), statusKernel)
	}
	l.lent = 0
}

// drain lends up to len(frames) frames that are in the ring.
func (l *Link) drain(frames []link.Frame) int {
	n, bytes, big := 0, 0, 0
	for n < len(frames) {
		s := l.rx.slot(l.rxHead)
		st := loadStatus(s)
		if st&statusUser == 0 {
			break
		}
		h, ok := parseRx(s, st)
		if !ok || (l.vnet && h.mac < txDataOff+vnetLen+link.VLANTagLen) {
			storeStatus(s, statusKernel)
			l.rxHead = (l.rxHead + 1) % l.rx.n
			l.rxOwnDrops.Add(1)
			continue
		}
		var f link.Frame
		if st&statusCopy != 0 {
			if big == bigBuffers {
				break // the rest waits for the next ReadBatch
			}
			f = l.readCopy(s, h, big)
			big++
		} else {
			f = l.fromSlot(s, h)
		}
		frames[n] = f
		n++
		bytes += f.Len
		l.rxHead = (l.rxHead + 1) % l.rx.n
		l.lent++
	}
	if n > 0 {
		l.rxPackets.Add(uint64(n))
		l.rxBytes.Add(uint64(bytes))
	}
	return n
}

// fromSlot lends the frame in slot s.
func (l *Link) fromSlot(s []byte, h rxSlot) link.Frame {
	var o link.Offload
	if l.vnet {
		o = decodeVnet(s[h.mac-vnetLen : h.mac])
	}
	start, wire := h.mac, h.wireLen
	if h.status&statusVLANValid != 0 && h.snap >= 12 {
		// Put back the VLAN tag the NIC stripped: a router must not turn
		// tagged frames into untagged ones. The 4 bytes before the frame
		// are free (the virtio_net_hdr was read above).
		start -= link.VLANTagLen
		copy(s[start:], s[h.mac:h.mac+12])
		putTag(s[start+12:], h.status, u16(s, hdrVLANTPID), u16(s, hdrVLANTCI))
		wire += link.VLANTagLen
		if o.NeedsCsum {
			o.CsumStart += link.VLANTagLen
		}
	}
	end := h.mac + h.snap
	data := s[start:end:end]
	if !l.vnet && h.status&statusCsumNotReady != 0 {
		o = offloadFromStatus(data, l.mtu)
	}
	return link.Frame{Data: data, Len: wire, Offload: o}
}

// putTag writes an 802.1Q (or the TPID the kernel reports) tag.
func putTag(b []byte, st uint32, tpid, tci uint16) {
	if st&statusVLANTPID == 0 || tpid == 0 {
		tpid = 0x8100
	}
	binary.BigEndian.PutUint16(b, tpid)
	binary.BigEndian.PutUint16(b[2:], tci)
}

// readCopy reads the full copy of a frame that did not fit slot s (a
// super-packet) from the socket's queue into big buffer i. The kernel
// queues the copy before it publishes the slot, in slot order, so the next
// queued packet is this one. If it is missing, the truncated slot is
// returned (Len > len(Data)) and the data plane drops it.
func (l *Link) readCopy(s []byte, h rxSlot, i int) link.Frame {
	for len(l.big) <= i {
		l.big = append(l.big, make([]byte, bigHeadroom+vnetLen+link.MaxGSOFrame))
	}
	buf := l.big[i][bigHeadroom:]
	if !l.vnet {
		buf = buf[vnetLen:]
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(l.fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)),
		unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
	n := int(r)
	if e != 0 || n < l.vl+link.EthHeaderLen {
		l.rxOwnDrops.Add(1)
		end := h.mac + h.snap
		return link.Frame{Data: s[h.mac:end:end], Len: max(h.wireLen, h.snap+1)}
	}
	wire := n - l.vl
	n = min(n, len(buf))
	var o link.Offload
	if l.vnet {
		o = decodeVnet(buf[:vnetLen])
	}
	full := l.big[i]
	start, end := bigHeadroom+l.vl, bigHeadroom+n
	if !l.vnet {
		start, end = bigHeadroom+vnetLen, bigHeadroom+vnetLen+n
	}
	if h.status&statusVLANValid != 0 {
		copy(full[start-link.VLANTagLen:], full[start:start+12])
		start -= link.VLANTagLen
		putTag(full[start+12:], h.status, u16(s, hdrVLANTPID), u16(s, hdrVLANTCI))
		wire += link.VLANTagLen
		if o.NeedsCsum {
			o.CsumStart += link.VLANTagLen
		}
	}
	data := full[start:end:end]
	if !l.vnet && h.status&statusCsumNotReady != 0 {
		o = offloadFromStatus(data, l.mtu)
	}
	return link.Frame{Data: data, Len: wire, Offload: o}
}

// wait blocks until the socket is readable, ms milliseconds pass (-1:
// forever) or Close is called. A pending socket error (ENETDOWN when the
// interface went down) is read, which clears it, and returned.
func (l *Link) wait(ms int) error {
	fds := [2]unix.PollFd{
		{Fd: int32(l.fd), Events: unix.POLLIN},
		{Fd: int32(l.efd), Events: unix.POLLIN},
	}
	for {
		_, err := unix.Poll(fds[:], ms)
		if err == unix.EINTR {
			continue
		}
		if l.closed.Load() {
			return link.ErrClosed
		}
		if err != nil {
			return fmt.Errorf("afpacket: %s: poll: %w", l.name, err)
		}
		if fds[0].Revents&unix.POLLERR != 0 {
			if soerr, e := unix.GetsockoptInt(l.fd, unix.SOL_SOCKET, unix.SO_ERROR); e == nil && soerr != 0 {
				return fmt.Errorf("afpacket: %s: read: %w", l.name, syscall.Errno(soerr))
			}
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			l.strayCopies()
		}
		return nil
	}
}

// strayCopies discards a packet queued on the socket that no ring slot
// refers to, which would otherwise keep poll(2) readable forever. The
// kernel queues a super-packet's copy just before it publishes its slot, so
// a wake-up may find the copy alone for a moment; only a queue that stays
// readable with an empty ring over many wake-ups holds a stray.
func (l *Link) strayCopies() {
	if st := loadStatus(l.rx.slot(l.rxHead)); st&statusUser != 0 {
		l.spurious = 0
		return
	}
	if l.spurious++; l.spurious < 1000 {
		return
	}
	l.spurious = 0
	var b [1]byte
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(l.fd), uintptr(unsafe.Pointer(&b[0])), 1, unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
	if e == 0 && r > 0 {
		l.rxOwnDrops.Add(1)
	}
}

// WriteBatch implements link.Link. A frame that does not fit the MTU, or
// has an Offload a link without PACKET_VNET_HDR cannot carry, is dropped
// and counted; so are the frames that find the transmit ring full (the
// kernel has not sent earlier ones yet), like a NIC whose queue is full.
func (l *Link) WriteBatch(frames []link.Frame) (int, error) {
	l.txMu.Lock()
	defer l.txMu.Unlock()
	if l.closed.Load() {
		return 0, link.ErrClosed
	}
	accepted, bytes, queued := 0, 0, 0
	var dropped uint64
	var err error
	for i, f := range frames {
		if !f.Offload.IsZero() && !l.vnet || !fits(f, l.mtu) {
			dropped++
			continue
		}
		if f.Offload.GSO != link.GSONone || txDataOff+l.vl+len(f.Data) > l.tx.frameSize {
			if queued > 0 {
				if d, db, e := l.kick(); e != nil || d > 0 {
					dropped += uint64(d)
					accepted -= d
					bytes -= db
					if e != nil {
						err = e
						dropped += uint64(len(frames) - i)
						break
					}
				}
				queued = 0
			}
			if e := l.sendBulk(f); e != nil {
				dropped++
				if !isTransient(e) && err == nil {
					err = e
				}
				continue
			}
			accepted++
			bytes += len(f.Data)
			continue
		}
		s := l.tx.slot(l.txHead)
		if loadStatus(s) != statusAvailable {
			if queued > 0 {
				d, db, e := l.kick()
				dropped += uint64(d)
				accepted -= d
				bytes -= db
				queued = 0
				if e != nil {
					err = e
					dropped += uint64(len(frames) - i)
					break
				}
			}
			if loadStatus(s) != statusAvailable {
				dropped += uint64(len(frames) - i)
				break
			}
		}
		if l.vnet {
			encodeVnet(s[txDataOff:], f.Offload)
		}
		copy(s[txDataOff+l.vl:], f.Data)
		putU32(s, hdrLen, uint32(l.vl+len(f.Data)))
		storeStatus(s, statusSendRequest)
		l.txHead = (l.txHead + 1) % l.tx.n
		queued++
		accepted++
		bytes += len(f.Data)
	}
	if queued > 0 {
		d, db, e := l.kick()
		dropped += uint64(d)
		accepted -= d
		bytes -= db
		if e != nil && err == nil {
			err = e
		}
	}
	l.txPackets.Add(uint64(accepted))
	l.txBytes.Add(uint64(bytes))
	if dropped > 0 {
		l.txDropped.Add(dropped)
	}
	return accepted, err
}

// fits reports whether f may be transmitted on a port with this MTU.
func fits(f link.Frame, mtu int) bool {
	if f.Offload.GSO != link.GSONone {
		return f.Offload.Valid(len(f.Data)) && len(f.Data) <= link.MaxGSOFrame
	}
	if f.Offload.NeedsCsum && !f.Offload.Valid(len(f.Data)) {
		return false
	}
	n := len(f.Data)
	if n < link.EthHeaderLen {
		return false
	}
	if n <= mtu+link.EthHeaderLen {
		return true
	}
	if n <= mtu+link.EthHeaderLen+link.VLANTagLen {
		et := uint16(f.Data[12])<<8 | uint16(f.Data[13])
		return et == 0x8100 || et == 0x88a8
	}
	return false
}

func isTransient(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOBUFS) ||
		errors.Is(err, unix.EMSGSIZE) || errors.Is(err, unix.EINVAL)
}

// kick has the kernel send the slots marked for sending and reports how
// many frames (and bytes) it gave up on. The kernel sends from its own position, which is
// ours (kHead) because it takes slots in order: a slot it consumed is no
// longer SEND_REQUEST. Slots it left (its socket buffer full, or the
// interface down) are taken back and counted as dropped, so that nothing
// stale goes out later and both positions stay equal.
func (l *Link) kick() (dropped, droppedBytes int, err error) {
	for attempt := 0; ; attempt++ {
		_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(l.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		progressed := l.reap()
		if l.kHead == l.txHead {
			return 0, 0, nil
		}
		switch {
		case e == unix.EINTR:
			continue
		case (e == 0 || e == unix.EAGAIN || e == unix.ENOBUFS) && progressed && attempt < 8:
			continue // the socket buffer is draining: try the rest
		case e == 0 || e == unix.EAGAIN || e == unix.ENOBUFS:
			n, b := l.reclaim()
			return n, b, nil
		default:
			n, b := l.reclaim()
			return n, b, fmt.Errorf("afpacket: %s: send: %w", l.name, e)
		}
	}
}

// reap moves kHead past the slots the kernel has taken.
func (l *Link) reap() bool {
	moved := false
	for l.kHead != l.txHead && loadStatus(l.tx.slot(l.kHead)) != statusSendRequest {
		l.kHead = (l.kHead + 1) % l.tx.n
		moved = true
	}
	return moved
}

// reclaim takes back the slots still marked for sending. The kernel is not
// reading them: it sends only inside our send(2), which has returned.
func (l *Link) reclaim() (n, bytes int) {
	for l.txHead != l.kHead {
		l.txHead = (l.txHead - 1 + l.tx.n) % l.tx.n
		s := l.tx.slot(l.txHead)
		bytes += int(u32(s, hdrLen)) - l.vl
		storeStatus(s, statusAvailable)
		n++
	}
	return n, bytes
}

// sendBulk sends one super-packet (or a frame larger than a transmit slot)
// through the bulk socket, its virtio_net_hdr first.
func (l *Link) sendBulk(f link.Frame) error {
	encodeVnet(l.bulkHdr[:], f.Offload)
	l.bulkIov[0].Base = &l.bulkHdr[0]
	l.bulkIov[0].SetLen(vnetLen)
	l.bulkIov[1].Base = &f.Data[0]
	l.bulkIov[1].SetLen(len(f.Data))
	l.bulkMsg.Iov = &l.bulkIov[0]
	l.bulkMsg.SetIovlen(2)
	for {
		_, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(l.bulk), uintptr(unsafe.Pointer(&l.bulkMsg)), unix.MSG_DONTWAIT)
		l.bulkIov[1].Base = nil // keep no reference to the caller's frame
		if e == unix.EINTR {
			l.bulkIov[1].Base = &f.Data[0]
			continue
		}
		if e != 0 {
			return fmt.Errorf("afpacket: %s: send super-packet: %w", l.name, e)
		}
		return nil
	}
}

// Close implements link.Link: it wakes a blocked ReadBatch, waits for
// in-flight calls, unmaps the rings and closes the sockets (which also ends
// promiscuous mode).
func (l *Link) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(l.efd, one[:])
		l.rxMu.Lock()
		l.txMu.Lock()
		l.statsMu.Lock()
		l.refreshKernelDrops()
		l.release()
		l.statsMu.Unlock()
		l.txMu.Unlock()
		l.rxMu.Unlock()
	})
	return nil
}
