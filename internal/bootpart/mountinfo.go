package bootpart

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// mountedAt reports the source and type of the mount at dir, from
// /proc/self/mountinfo.
func (s *system) mountedAt(dir string) (source, fstype string, ok bool) {
	f, err := os.Open(s.mountInfo)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
		pre, post, found := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !found || len(fields) < 5 || len(tail) < 2 {
			continue
		}
		if unescapeMount(fields[4]) == dir {
			source, fstype, ok = tail[1], tail[0], true // the last one wins: it is on top
		}
	}
	return source, fstype, ok
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
