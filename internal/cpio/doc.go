// Package cpio writes and reads newc ("070701") cpio archives, the format
// the Linux kernel unpacks into its rootfs from an initramfs. The board
// firmware's initramfs (firmware) and the interop lab's VM initramfs
// (qemu/interop) are both written with it.
package cpio
