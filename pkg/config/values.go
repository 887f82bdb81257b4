package config

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/passgate/passgate/pkg/passhash"
)

// choice is one literal word a value may take, with the typed value it
// stands for.
type choice struct {
	word, help string
	val        any
}

// vtype describes one value position of the language: literal choices
// and/or a free-form value with a parser and a printer.
type vtype struct {
	secret  bool                        // masked wherever the configuration is shown
	ph      string                      // placeholder shown in help, e.g. "<A.B.C.D>"
	help    string                      // help for the placeholder
	choices []choice                    // literal words (enable, disable, auto ...)
	parse   func(s string) (any, error) // free-form value; nil if only choices
	format  func(v any) string          // prints a free-form value
	quote   bool                        // printed in double quotes
}

// text prints v for a command line.
func (t *vtype) text(v any) string {
	for _, ch := range t.choices {
		if ch.val == v {
			return ch.word
		}
	}
	s := t.format(v)
	if t.quote {
		return quoteAlways(s)
	}
	return s
}

func orList(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	case 2:
		return parts[0] + " or " + parts[1]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

func errf(format string, a ...any) error { return errors.New(fmt.Sprintf(format, a...)) }

// ---- literal-choice values ----

func tSwitch(what string) *vtype {
	return &vtype{choices: []choice{
		{"enable", "turn " + what + " on", true},
		{"disable", "turn " + what + " off", false},
	}}
}

func tChoices(chs ...choice) *vtype { return &vtype{choices: chs} }

// ---- numbers ----

// atoi parses a decimal number without sign; ok is false for anything else
// or for absurdly long input.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func tInt(lo, hi int, help string) *vtype {
	rng := fmt.Sprintf("%d-%d", lo, hi)
	return &vtype{
		ph:   "<" + rng + ">",
		help: help,
		parse: func(s string) (any, error) {
			n, ok := atoi(s)
			if !ok {
				return nil, errf("%q is not a number; use %s", s, rng)
			}
			if n < lo || n > hi {
				return nil, errf("%d is out of range; use %s", n, rng)
			}
			return n, nil
		},
		format: func(v any) string { return strconv.Itoa(v.(int)) },
	}
}

// tMSS is auto | disable | 536..9000.
func tMSS() *vtype {
	t := tInt(536, 9000, "clamp the TCP MSS to this many bytes")
	t.choices = []choice{
		{"auto", "clamp to the WAN path MTU (default)", MSSClampAuto},
		{"disable", "never rewrite the TCP MSS", MSSClampDisabled},
	}
	t.parse = func(s string) (any, error) {
		n, ok := atoi(s)
		if !ok {
			return nil, errf("%q is not valid; use auto, disable or a number 536-9000", s)
		}
		if n < 536 || n > 9000 {
			return nil, errf("%d is out of range; use auto, disable or a number 536-9000", n)
		}
		return n, nil
	}
	return t
}

// ---- durations ----

// parseDuration accepts plain seconds ("3600") or numbers with units d, h,
// m, s in that order ("12h", "1h30m", "1d"). Only whole seconds exist.
func parseDuration(s string) (time.Duration, bool) {
	// maxSecs keeps the conversion to time.Duration from overflowing; any
	// larger value is out of every range anyway.
	const maxSecs = 1 << 32
	if n, ok := atoi(s); ok {
		return time.Duration(min(int64(n), maxSecs)) * time.Second, true
	}
	if s != "" && strings.Trim(s, "0123456789") == "" {
		return maxSecs * time.Second, true // a long number: out of every range
	}
	units := "dhms"
	mult := map[byte]int64{'d': 86400, 'h': 3600, 'm': 60, 's': 1}
	var total int64
	last := -1
	i := 0
	if s == "" {
		return 0, false
	}
	for i < len(s) {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i || j == len(s) || j-i > 9 {
			return 0, false
		}
		u := strings.IndexByte(units, s[j])
		if u < 0 || u <= last {
			return 0, false
		}
		last = u
		n, _ := strconv.ParseInt(s[i:j], 10, 64)
		total = min(total+n*mult[s[j]], maxSecs)
		i = j + 1
	}
	return time.Duration(total) * time.Second, true
}

// formatDuration prints d (whole seconds) as e.g. "12h", "1d6h", "1m30s".
func formatDuration(d time.Duration) string {
	secs := int64(d / time.Second)
	if secs == 0 {
		return "0"
	}
	var b strings.Builder
	for _, u := range []struct {
		n int64
		c byte
	}{{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}} {
		if secs >= u.n {
			b.WriteString(strconv.FormatInt(secs/u.n, 10))
			b.WriteByte(u.c)
			secs %= u.n
		}
	}
	return b.String()
}

// tDuration is a duration printed as e.g. 12h; tSeconds is a duration
// printed in seconds. Both accept either form.
func tDuration(lo, hi time.Duration, help string) *vtype {
	return durationType(lo, hi, help, false)
}

func tSeconds(lo, hi time.Duration, help string) *vtype {
	return durationType(lo, hi, help, true)
}

func durationType(lo, hi time.Duration, help string, seconds bool) *vtype {
	show := func(d time.Duration) string {
		if seconds {
			return strconv.FormatInt(int64(d/time.Second), 10)
		}
		return formatDuration(d)
	}
	ph := "<DURATION>"
	limits := fmt.Sprintf("%s to %s", formatDuration(lo), formatDuration(hi))
	if seconds {
		ph = "<SECONDS>"
		limits = fmt.Sprintf("%s to %s seconds", show(lo), show(hi))
	}
	return &vtype{
		ph:   ph,
		help: help,
		parse: func(s string) (any, error) {
			d, ok := parseDuration(s)
			if !ok {
				return nil, errf("%q is not a duration; use e.g. 12h, 30m or seconds", s)
			}
			if d < lo || d > hi {
				return nil, errf("%s is out of range; use %s", s, limits)
			}
			return d, nil
		},
		format: func(v any) string { return show(v.(time.Duration)) },
	}
}

// ---- addresses ----

// hostAddrProblem says why a is not usable as a host address, or "".
func hostAddrProblem(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "is not a host address"
	case a.IsLoopback():
		return "is a loopback address"
	case a.IsMulticast():
		return "is a multicast address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "is the broadcast address"
	case a.As4()[0] >= 240:
		return "is a reserved address (240.0.0.0/4)"
	}
	return ""
}

func tIPv4(help string) *vtype {
	return &vtype{
		ph:   "<A.B.C.D>",
		help: help,
		parse: func(s string) (any, error) {
			a, err := netip.ParseAddr(s)
			if err != nil || !a.Is4() {
				return nil, errf("%q is not an IPv4 address; use four numbers 0-255 like 192.168.1.10", s)
			}
			if p := hostAddrProblem(a); p != "" {
				return nil, errf("%s %s; use a unicast host address", s, p)
			}
			return a, nil
		},
		format: func(v any) string { return v.(netip.Addr).String() },
	}
}

// lastAddr returns the highest address of p (the broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	u := binary.BigEndian.Uint32(a[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(a[:], u)
	return netip.AddrFrom4(a)
}

// tIfAddr is an interface address with its subnet length, e.g. 192.168.1.1/24.
func tIfAddr(help string) *vtype {
	return &vtype{
		ph:   "<A.B.C.D/N>",
		help: help,
		parse: func(s string) (any, error) {
			p, err := netip.ParsePrefix(s)
			if err != nil || !p.Addr().Is4() {
				if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
					return nil, errf("%q has no subnet length; use e.g. %s/24", s, s)
				}
				return nil, errf("%q is not an IPv4 address with subnet length; use e.g. 192.168.1.1/24", s)
			}
			a := p.Addr()
			if prob := hostAddrProblem(a); prob != "" {
				return nil, errf("%s %s; use a unicast host address such as 192.168.1.1/24", a, prob)
			}
			if p.Bits() < 8 || p.Bits() > 30 {
				return nil, errf("subnet length /%d is not supported; use /8 to /30", p.Bits())
			}
			if a == p.Masked().Addr() {
				return nil, errf("%s is the network address of %s; give the router's own address, e.g. %s/%d",
					a, p.Masked(), p.Masked().Addr().Next(), p.Bits())
			}
			if a == lastAddr(p) {
				return nil, errf("%s is the broadcast address of %s; give the router's own address, e.g. %s/%d",
					a, p.Masked(), p.Masked().Addr().Next(), p.Bits())
			}
			return p, nil
		},
		format: func(v any) string { return v.(netip.Prefix).String() },
	}
}

func parseMAC(s string) (MAC, bool) {
	var m MAC
	if len(s) != 17 {
		return m, false
	}
	sep := s[2]
	if sep != ':' && sep != '-' {
		return m, false
	}
	for i := 0; i < 6; i++ {
		if i > 0 && s[3*i-1] != sep {
			return m, false
		}
		b, err := strconv.ParseUint(s[3*i:3*i+2], 16, 8)
		if err != nil || s[3*i] == '+' || s[3*i] == '-' {
			return m, false
		}
		m[i] = byte(b)
	}
	return m, true
}

func tMAC(help string) *vtype {
	return &vtype{
		ph:   "<aa:bb:cc:dd:ee:ff>",
		help: help,
		parse: func(s string) (any, error) {
			m, ok := parseMAC(s)
			if !ok {
				return nil, errf("%q is not a MAC address; use six hex pairs like aa:bb:cc:dd:ee:ff", s)
			}
			if m.IsZero() {
				return nil, errf("%s is not a host's MAC address; use the address printed on the device", m)
			}
			if m[0]&1 != 0 {
				return nil, errf("%s is a multicast MAC address (odd first byte); a host's MAC has an even first byte", m)
			}
			return m, nil
		},
		format: func(v any) string { return v.(MAC).String() },
	}
}

// ---- ports ----

func parsePort(s string) (uint16, bool) {
	n, ok := atoi(s)
	if !ok || n < 1 || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

func tPorts(help string) *vtype {
	return &vtype{
		ph:   "<PORT[-PORT]>",
		help: help,
		parse: func(s string) (any, error) {
			a, b, isRange := strings.Cut(s, "-")
			first, ok1 := parsePort(a)
			last := first
			ok2 := true
			if isRange {
				last, ok2 = parsePort(b)
			}
			if !ok1 || !ok2 {
				return nil, errf("%q is not a port; use a number 1-65535 or a range like 8000-8010", s)
			}
			if first > last {
				return nil, errf("port range %s is reversed; give the lower port first (%d-%d)", s, last, first)
			}
			return PortRange{first, last}, nil
		},
		format: func(v any) string { return v.(PortRange).String() },
	}
}

// ---- names ----

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func tHostname(help string) *vtype {
	return &vtype{
		ph:   "<HOSTNAME>",
		help: help,
		parse: func(s string) (any, error) {
			if err := checkDNSName(s, "hostname", "passgate"); err != nil {
				return nil, err
			}
			return s, nil
		},
		format: func(v any) string { return v.(string) },
	}
}

// tDomain is a DNS domain name such as home.arpa.
func tDomain(help string) *vtype {
	return &vtype{
		ph:   "<DOMAIN>",
		help: help,
		parse: func(s string) (any, error) {
			if err := checkDNSName(s, "domain", "home.arpa"); err != nil {
				return nil, err
			}
			return s, nil
		},
		format: func(v any) string { return v.(string) },
	}
}

// checkDNSName checks s as a host or domain name (what, e.g. "hostname"):
// labels of letters, digits and '-' (not first or last), at most 63
// characters each and 253 in all.
func checkDNSName(s, what, example string) error {
	bad := errf("%q is not a %s; use letters, digits and '-' (not first or last), e.g. %s", s, what, example)
	labels := strings.Split(s, ".")
	for _, label := range labels {
		if len(label) == 0 || label[0] == '-' || label[len(label)-1] == '-' {
			return bad
		}
		for i := 0; i < len(label); i++ {
			if !isAlnum(label[i]) && label[i] != '-' {
				return bad
			}
		}
	}
	// Only ASCII is left: bytes are characters.
	switch {
	case len(s) > 253:
		return errf("the %s is %d characters long; at most 253 are allowed (63 between dots)", what, len(s))
	case len(labels) == 1 && len(s) > 63:
		return errf("the %s is %d characters long; at most 63 are allowed (253 with dots, 63 between them)", what, len(s))
	}
	for _, label := range labels {
		if len(label) > 63 {
			return errf("the part %q of the %s is %d characters long; at most 63 are allowed between dots", label, what, len(label))
		}
	}
	return nil
}

func tDevice(help string) *vtype {
	return &vtype{
		ph:   "<IFNAME>",
		help: help,
		parse: func(s string) (any, error) {
			ok := len(s) >= 1 && len(s) <= 15 && s != "." && s != ".."
			for i := 0; ok && i < len(s); i++ {
				ok = isAlnum(s[i]) || strings.IndexByte("._-", s[i]) >= 0
			}
			if !ok {
				return nil, errf("%q is not an interface name; use up to 15 letters, digits, '.', '_' or '-', e.g. eth0", s)
			}
			return s, nil
		},
		format: func(v any) string { return v.(string) },
	}
}

// tName is a user-chosen tag naming a list entry.
func tName(help string) *vtype {
	return &vtype{
		ph:   "<NAME>",
		help: help,
		parse: func(s string) (any, error) {
			ok := len(s) >= 1 && len(s) <= 32 && isAlnum(s[0])
			for i := 0; ok && i < len(s); i++ {
				ok = isAlnum(s[i]) || strings.IndexByte("._-", s[i]) >= 0
			}
			if !ok {
				return nil, errf("%q is not a name; use 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit", s)
			}
			return s, nil
		},
		format: func(v any) string { return v.(string) },
	}
}

// ---- quoted strings ----

// tText is a free text of 1..max bytes of printable UTF-8 (no control
// characters), printed in double quotes.
func tText(ph, help string, max int) *vtype {
	return &vtype{
		ph:    `<"` + ph + `">`,
		help:  help,
		quote: true,
		parse: func(s string) (any, error) {
			if s == "" || len(s) > max {
				return nil, errf("%d bytes is not allowed; give 1-%d bytes (delete the line for the default)", len(s), max)
			}
			if !utf8.ValidString(s) {
				return nil, errf("not valid UTF-8; give printable text")
			}
			for _, r := range s {
				if unicode.IsControl(r) {
					return nil, errf("control character %U is not allowed; give printable text", r)
				}
			}
			return s, nil
		},
		format: func(v any) string { return v.(string) },
	}
}

// tSecret is tText for a secret: kept as given, masked when shown.
func tSecret(ph, help string, max int) *vtype {
	t := tText(ph, help, max)
	t.secret = true
	parse := t.parse
	t.parse = func(s string) (any, error) {
		if isMask(s) {
			return nil, errf("%q is how show configuration masks the secret, not the secret; give the real one", s)
		}
		return parse(s)
	}
	return t
}

func tPasswordHash() *vtype {
	return &vtype{
		ph:    `<"HASH">`,
		help:  `crypt(3) hash from "mkpasswd -m sha-512", "mkpasswd" (yescrypt) or "openssl passwd -6"`,
		quote: true,
		parse: func(s string) (any, error) {
			// Exactly the hashes SSH can verify (pkg/passhash); the
			// message says what is accepted and how to make one.
			if err := passhash.Check(s); err != nil {
				return nil, errf("%v", err)
			}
			return s, nil
		},
		format: func(v any) string { return v.(string) },
	}
}

var sshKeyTypes = []string{
	"ssh-ed25519", "ssh-rsa",
	"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
}

// parseAuthorizedKey checks one OpenSSH public key line "TYPE BASE64
// [COMMENT]" and returns it with whitespace normalised.
func parseAuthorizedKey(s string) (string, error) {
	f := strings.Fields(s)
	help := `paste one line of ~/.ssh/id_ed25519.pub, e.g. "ssh-ed25519 AAAAC3Nza... you@laptop"`
	if len(f) < 2 {
		return "", errf("%q is not an OpenSSH public key; %s", s, help)
	}
	known := false
	for _, t := range sshKeyTypes {
		known = known || f[0] == t
	}
	if !known {
		return "", errf("key type %q is not supported (options before the key type are not allowed either); use one of %s",
			f[0], strings.Join(sshKeyTypes, ", "))
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(blob) < 4 {
		return "", errf("the key data of %q is not valid base64; %s", f[0], help)
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n)+4 > uint64(len(blob)) || string(blob[4:4+n]) != f[0] || int(4+n) == len(blob) {
		return "", errf("the key data does not hold a %s key; %s", f[0], help)
	}
	return strings.Join(f, " "), nil
}

func tAuthorizedKey() *vtype {
	return &vtype{
		ph:    `<"KEY">`,
		help:  `OpenSSH public key in quotes: "ssh-ed25519 AAAA... comment"`,
		quote: true,
		parse: func(s string) (any, error) {
			k, err := parseAuthorizedKey(s)
			if err != nil {
				return nil, err
			}
			return k, nil
		},
		format: func(v any) string { return v.(string) },
	}
}
