package tcfast

// Offsets of the struct __sk_buff fields the programs read (the program
// context of SCHED_CLS and SOCKET_FILTER programs, include/uapi/linux/bpf.h).
// They are part of the kernel's ABI and have not moved since they were
// added; TestSkBuffOffsets checks them against the running kernel's BTF.
const (
	skbLen            = 0   // u32 len: frame length, Ethernet header included at tc ingress and at a packet tap
	skbPktType        = 4   // u32 pkt_type: PACKET_HOST, PACKET_OUTGOING, ...
	skbVlanPresent    = 20  // u32 vlan_present: the frame's VLAN tag was taken out into the skb (by the NIC, or by the kernel before the taps and tc)
	skbIngressIfindex = 36  // u32 ingress_ifindex: skb->skb_iif, the port the frame arrived on
	skbData           = 76  // u32 data: packet pointer (direct packet access, tc only)
	skbDataEnd        = 80  // u32 data_end
	skbGsoSegs        = 164 // u32 gso_segs (Linux 5.1)
	skbGsoSize        = 176 // u32 gso_size (Linux 5.7)
	skbSize           = 192 // sizeof(struct __sk_buff) on Linux 5.16 and later
)

// Packet types (include/uapi/linux/if_packet.h).
const (
	packetHost     = 0 // to the port's own MAC
	packetOutgoing = 4 // leaving the port (seen by packet taps only)
)
