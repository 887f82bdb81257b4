package tcfast

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/btf"
)

// skBuff is struct __sk_buff, the context passed to BPF_PROG_TEST_RUN
// (TestSkBuffOffsets checks it against the kernel's BTF).
type skBuff struct {
	Len, PktType, Mark, QueueMapping, Protocol, VlanPresent, VlanTCI, VlanProto uint32
	Priority, IngressIfindex, Ifindex, TCIndex                                  uint32
	CB                                                                          [5]uint32
	Hash, TCClassid, Data, DataEnd, NapiID, Family, RemoteIP4, LocalIP4         uint32
	RemoteIP6, LocalIP6                                                         [4]uint32
	RemotePort, LocalPort, DataMeta                                             uint32
	FlowKeys, Tstamp                                                            uint64
	WireLen, GsoSegs                                                            uint32
	Sk                                                                          uint64
	GsoSize                                                                     uint32
	TstampType                                                                  uint8
	_                                                                           [3]uint8
	Hwtstamp                                                                    uint64
}

// TestSkBuffOffsets checks the __sk_buff offsets the programs use, and
// the tests' own copy of the struct, against the running kernel's BTF
// (/sys/kernel/btf/vmlinux).
func TestSkBuffOffsets(t *testing.T) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatalf("prerequisite missing: the kernel's BTF (CONFIG_DEBUG_INFO_BTF): %v", err)
	}
	var s *btf.Struct
	if err := spec.TypeByName("__sk_buff", &s); err != nil {
		t.Fatal(err)
	}
	kernel := map[string]uint32{}
	for _, m := range s.Members {
		kernel[m.Name] = m.Offset.Bytes()
	}
	for name, off := range map[string]uint32{
		"len": skbLen, "pkt_type": skbPktType, "vlan_present": skbVlanPresent, "ingress_ifindex": skbIngressIfindex,
		"data": skbData, "data_end": skbDataEnd, "gso_segs": skbGsoSegs, "gso_size": skbGsoSize,
	} {
		if k, ok := kernel[name]; !ok || k != off {
			t.Errorf("__sk_buff.%s: the kernel has offset %d (present %v), the programs use %d", name, k, ok, off)
		}
	}
	if s.Size != skbSize || unsafe.Sizeof(skBuff{}) != skbSize {
		t.Errorf("sizeof(__sk_buff): kernel %d, constant %d, test struct %d", s.Size, skbSize, unsafe.Sizeof(skBuff{}))
	}
	goNames := map[string]string{
		"Len": "len", "PktType": "pkt_type", "VlanPresent": "vlan_present", "IngressIfindex": "ingress_ifindex",
		"Ifindex": "ifindex", "Data": "data", "DataEnd": "data_end", "WireLen": "wire_len",
		"GsoSegs": "gso_segs", "GsoSize": "gso_size", "Hwtstamp": "hwtstamp", "Tstamp": "tstamp",
	}
	for goName, cName := range goNames {
		f, _ := reflect.TypeOf(skBuff{}).FieldByName(goName)
		if uint32(f.Offset) != kernel[cName] {
			t.Errorf("test struct field %s at %d, kernel's %s at %d", goName, f.Offset, cName, kernel[cName])
		}
	}
}
