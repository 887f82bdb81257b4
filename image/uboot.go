package image

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"

	"github.com/passgate/passgate/board"
	"github.com/passgate/passgate/pkg/bootslot"
)

// Files on the boot partition through which the OS tells u-boot which
// boot slot to start (issue #17): pkg/bootslot keeps the state and its
// UBootFiles loader writes them. Both hold u-boot environment text.
const (
	// UBootDefaultFile names the committed slot: passgate_slot=a or b.
	// Missing: slot a.
	UBootDefaultFile = bootslot.UBootDefaultFile
	// UBootTryFile asks for one trial boot: passgate_try=a or b. The
	// boot script deletes it (fatrm) before it starts the trial kernel,
	// so whatever happens next — the trial kernel hangs, the watchdog
	// resets the board, the power goes — the boot after it is the
	// default slot again.
	UBootTryFile = bootslot.UBootTryFile
	// UBootScriptFile is the script u-boot's distro boot runs; the text
	// it was made from is beside it as boot.cmd.
	UBootScriptFile = "boot.scr"
)

// UBootScript is the boot script of a u-boot board: boot the committed
// slot, or once the slot on trial, telling the kernel which it is
// (passgate.slot=, passgate.trial=). A slot whose kernel does not load is
// passed over for the other. u-boot's distro boot sets devtype, devnum
// and distro_bootpart before it runs a boot script.
func UBootScript(b *board.Board) string {
	fdtLoad, fdtArg := "", "${fdtcontroladdr}"
	if len(b.DTBs) > 0 {
		fdtLoad = "  load ${devtype} ${devnum}:${distro_bootpart} ${fdt_addr_r} slot-${passgate_slot}/" + b.DTBs[0].Dst + " || exit\n"
		fdtArg = "${fdt_addr_r}"
	}
	part := "${devtype} ${devnum}:${distro_bootpart}"
	return `# passgate A/B boot script, written by passgate (u-boot source of boot.scr).
# Boot the committed slot (passgate-default.txt), or once the slot on trial
# (passgate-tryboot.txt, deleted before its kernel starts; passgate-tried.txt
# is left as the sign that the trial was taken).
setenv passgate_slot a
if test -e ` + part + ` ` + UBootDefaultFile + `; then
  load ` + part + ` ${scriptaddr} ` + UBootDefaultFile + ` && env import -t ${scriptaddr} ${filesize} passgate_slot
fi
if test "${passgate_slot}" != "b"; then setenv passgate_slot a; fi
setenv passgate_default ${passgate_slot}
setenv passgate_trial 0
if test -e ` + part + ` ` + UBootTryFile + `; then
  setenv passgate_try
  load ` + part + ` ${scriptaddr} ` + UBootTryFile + ` && env import -t ${scriptaddr} ${filesize} passgate_try
  fatwrite ` + part + ` ${scriptaddr} ` + bootslot.UBootTriedFile + ` ${filesize}
  fatrm ` + part + ` ` + UBootTryFile + `
  if test "${passgate_try}" = "a" || test "${passgate_try}" = "b"; then
    setenv passgate_slot ${passgate_try}
    setenv passgate_trial 1
  fi
fi
for passgate_pass in 1 2; do
  echo "passgate: booting slot ${passgate_slot} (trial ${passgate_trial})"
  if load ` + part + ` ${kernel_addr_r} slot-${passgate_slot}/` + board.KernelFile + ` && load ` + part + ` ${ramdisk_addr_r} slot-${passgate_slot}/` + board.InitramfsFile + `; then
    setenv passgate_rdsize ${filesize}
` + fdtLoad + `    setenv bootargs "` + b.KernelCmdline() + ` passgate.slot=${passgate_slot} passgate.trial=${passgate_trial}"
    booti ${kernel_addr_r} ${ramdisk_addr_r}:${passgate_rdsize} ` + fdtArg + `
  fi
  echo "passgate: slot ${passgate_slot} does not boot; trying the other"
  if test "${passgate_slot}" = "a"; then setenv passgate_slot b; else setenv passgate_slot a; fi
  setenv passgate_trial 0
done
`
}

// ScriptImage wraps a u-boot script in the legacy image header u-boot's
// "source" command reads (mkimage -A arm64 -T script -C none): a 64-byte
// big-endian header with CRCs, then a table of one length and a zero, then
// the text.
func ScriptImage(name, script string) []byte {
	var data bytes.Buffer
	binary.Write(&data, binary.BigEndian, uint32(len(script)))
	binary.Write(&data, binary.BigEndian, uint32(0))
	data.WriteString(script)
	body := data.Bytes()

	h := make([]byte, 64)
	be := binary.BigEndian
	be.PutUint32(h[0:], 0x27051956) // IH_MAGIC
	be.PutUint32(h[8:], 0)          // time: 0, reproducible
	be.PutUint32(h[12:], uint32(len(body)))
	be.PutUint32(h[24:], crc32.ChecksumIEEE(body))
	h[28] = 5  // IH_OS_LINUX
	h[29] = 22 // IH_ARCH_ARM64
	h[30] = 6  // IH_TYPE_SCRIPT
	h[31] = 0  // IH_COMP_NONE
	copy(h[32:63], strings.ToValidUTF8(name, "?"))
	be.PutUint32(h[4:], crc32.ChecksumIEEE(h)) // header CRC with its own field zero
	return append(h, body...)
}
