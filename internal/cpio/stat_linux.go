package cpio

import (
	"io/fs"
	"syscall"
)

// hostStat is what the archive records of a host file beyond fs.FileInfo.
type hostStat struct {
	uid, gid     uint32
	major, minor uint32
}

func statOf(fi fs.FileInfo) hostStat {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return hostStat{}
	}
	d := st.Rdev
	return hostStat{
		uid: st.Uid, gid: st.Gid,
		major: uint32((d>>8)&0xfff) | uint32((d>>32)&^0xfff),
		minor: uint32(d&0xff) | uint32((d>>12)&^0xff),
	}
}
