// Package passhash checks and verifies the crypt(3) password hashes that
// "system admin password-hash" holds. The configuration accepts a hash
// only when Check passes, and Check passes exactly for the hashes that
// Verify can verify: a hash that could never log anyone in is refused
// where it is typed, with what is accepted and how to make one.
//
// Accepted, with their cost bounded (every failed login pays it, so an
// attacker could otherwise make each guess cost seconds of CPU or a
// gigabyte of memory on the router):
//
//   - yescrypt "$y$j..." (Debian's mkpasswd and passwd default), memory
//     up to 32 MiB (mkpasswd -m yescrypt -R 6; the default -R 5 is 16 MiB);
//     github.com/go-crypt/x/yescrypt (Solar Designer's Go yescrypt).
//   - SHA-512 crypt "$6$" and SHA-256 crypt "$5$", up to 1,000,000
//     rounds (the default is 5000); github.com/go-crypt/crypt.
//   - bcrypt "$2b$", "$2y$", "$2a$", cost 4 to 12; golang.org/x/crypto.
//
// Refused as weak: MD5 crypt "$1$", SunMD5, SHA-1 crypt, NT hashes and the
// DES-based crypts. Refused as unsupported: anything else (scrypt "$7$",
// gost-yescrypt "$gy$", ...).
package passhash

import (
	"crypto/subtle"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-crypt/crypt/algorithm/shacrypt"
	"github.com/go-crypt/x/yescrypt"
	"golang.org/x/crypto/bcrypt"
)

// Bounds of the cost of one verification.
const (
	MaxYescryptMemory = 32 << 20 // bytes: 128·N·r
	MaxSHACryptRounds = 1000000
	MinSHACryptRounds = 1000 // as libxcrypt
	MaxBcryptCost     = 12
	MaxLen            = 512 // characters of a whole hash
)

// Accepted names the accepted forms and how to make one, for messages.
const Accepted = `yescrypt "$y$..." (mkpasswd's default), SHA-512 crypt "$6$..." ` +
	`(mkpasswd -m sha-512, or openssl passwd -6), SHA-256 crypt "$5$..." or bcrypt "$2b$..."`

const howTo = `; make one with: mkpasswd -m sha-512 (Debian package whois) or openssl passwd -6`

const alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Error is why Check refused a hash; its message is for the user.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errf(format string, a ...any) error { return &Error{fmt.Sprintf(format, a...)} }

// Check returns nil if Verify can check passwords against hash, and
// otherwise an error that says what is wrong, what is accepted and how to
// make a good hash. It does no hashing (it is cheap).
func Check(hash string) error {
	if len(hash) > MaxLen {
		return errf("the password hash is %d characters long, more than any supported hash (%d at most)%s", len(hash), MaxLen, howTo)
	}
	q := strconv.Quote(hash)
	switch {
	case hash == "":
		return errf("the password hash is empty; give %s%s", Accepted, howTo)
	case strings.HasPrefix(hash, "$y$"):
		return checkYescrypt(hash)
	case strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
		return checkSHACrypt(hash)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return checkBcrypt(hash)
	}
	if weak := weakName(hash); weak != "" {
		return errf("%s is %s, which is weak and refused; give %s%s", q, weak, Accepted, howTo)
	}
	if id, _, ok := strings.Cut(strings.TrimPrefix(hash, "$"), "$"); ok && hash[0] == '$' && id != "" && len(id) <= 12 {
		return errf("%s is a \"$%s$\" hash, which the router cannot verify; give %s%s", q, id, Accepted, howTo)
	}
	return errf("%s is not a password hash (a plain password is never stored); give %s%s", q, Accepted, howTo)
}

// weakName names a known weak scheme, or returns "".
func weakName(hash string) string {
	switch {
	case strings.HasPrefix(hash, "$1$"):
		return "an MD5-crypt hash"
	case strings.HasPrefix(hash, "$md5"):
		return "a SunMD5 hash"
	case strings.HasPrefix(hash, "$sha1$"):
		return "a SHA-1 crypt hash"
	case strings.HasPrefix(hash, "$3$"):
		return "an NT hash"
	case strings.HasPrefix(hash, "$2$"), strings.HasPrefix(hash, "$2x$"):
		return "an old bcrypt variant with a known flaw"
	case len(hash) == 20 && hash[0] == '_' && inAlphabet(hash[1:]):
		return "a BSDi DES-crypt hash"
	case len(hash) == 13 && inAlphabet(hash):
		return "a DES-crypt hash"
	}
	return ""
}

func inAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

func checkYescrypt(hash string) error {
	q := strconv.Quote(hash)
	parts := strings.Split(hash, "$") // "", "y", params, salt, hash
	if len(parts) != 5 || len(parts[2]) != 3 || parts[2][0] != 'j' || !inAlphabet(parts[2]) {
		return errf("%s is not a yescrypt hash the router supports: it expects \"$y$j<N><r>$<salt>$<hash>\" as mkpasswd -m yescrypt makes%s", q, howTo)
	}
	nlog2 := strings.IndexByte(alphabet, parts[2][1]) + 1
	r := strings.IndexByte(alphabet, parts[2][2]) + 1
	if nlog2 < 10 || nlog2 > 18 || r > 32 {
		return errf("%s has yescrypt parameters out of the supported range (N 2^10 to 2^18, r 1 to 32)%s", q, howTo)
	}
	if mem := 128 << nlog2 * r; mem > MaxYescryptMemory {
		return errf("%s needs %d MiB of memory at every login, more than the router allows (%d MiB); make one with mkpasswd -m yescrypt (the default cost, -R 5) or mkpasswd -m sha-512",
			q, mem>>20, MaxYescryptMemory>>20)
	}
	salt, sum := parts[3], parts[4]
	if salt == "" || len(salt) > 86 || yescrypt.Decode64([]byte(salt)) == nil {
		return errf("%s has a bad yescrypt salt %q%s", q, salt, howTo)
	}
	// 32 bytes encode to 43 characters; the last one carries 4 bits that
	// must be zero (otherwise the hash could never match).
	if len(sum) != 43 || !canonical64(sum) {
		return errf("%s has a damaged yescrypt hash part (43 characters expected)%s", q, howTo)
	}
	return nil
}

// canonical64 reports whether s is the crypt-base64 encoding of some bytes.
func canonical64(s string) bool {
	b := yescrypt.Decode64([]byte(s))
	return b != nil && string(yescrypt.Encode64(b)) == s
}

func checkSHACrypt(hash string) error {
	q := strconv.Quote(hash)
	name, sumLen := "SHA-512", 86
	if hash[1] == '5' {
		name, sumLen = "SHA-256", 43
	}
	bad := func(what string) error {
		return errf("%s is not a valid %s crypt hash: %s; it looks like \"$%c$salt$hash\" or \"$%c$rounds=N$salt$hash\"%s", q, name, what, hash[1], hash[1], howTo)
	}
	parts := strings.Split(hash[3:], "$")
	if len(parts) == 3 {
		num, ok := strings.CutPrefix(parts[0], "rounds=")
		if !ok {
			return bad("too many '$'")
		}
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != num {
			return bad(fmt.Sprintf("rounds %q is not a number", num))
		}
		if n < MinSHACryptRounds || n > MaxSHACryptRounds {
			return errf("%s has %d rounds; the router allows %d to %d (the default, with no rounds=, is 5000)%s",
				q, n, MinSHACryptRounds, MaxSHACryptRounds, howTo)
		}
		parts = parts[1:]
	}
	if len(parts) != 2 {
		return bad("the salt or the hash part is missing")
	}
	salt, sum := parts[0], parts[1]
	if len(salt) > 16 || !inAlphabet(salt) {
		return bad(fmt.Sprintf("the salt %q is not 0 to 16 of the characters ./0-9A-Za-z", salt))
	}
	if len(sum) != sumLen || !inAlphabet(sum) {
		return bad(fmt.Sprintf("the hash part is not %d of the characters ./0-9A-Za-z", sumLen))
	}
	return nil
}

func checkBcrypt(hash string) error {
	q := strconv.Quote(hash)
	if len(hash) != 60 || hash[6] != '$' || !inAlphabet(hash[7:]) {
		return errf("%s is not a valid bcrypt hash (\"$2b$NN$\" and 53 characters)%s", q, howTo)
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return errf("%s is not a valid bcrypt hash: %v%s", q, err, howTo)
	}
	if cost > MaxBcryptCost {
		return errf("%s has bcrypt cost %d; the router allows %d to %d%s", q, cost, bcrypt.MinCost, MaxBcryptCost, howTo)
	}
	return nil
}

// Verify reports whether password matches hash. A hash that Check refuses
// matches nothing, and so does the empty hash: there is never a default
// password. Each call costs up to the bounds above (one yescrypt call
// allocates its memory); callers serialise concurrent verifications.
func Verify(hash, password string) bool {
	if Check(hash) != nil {
		return false
	}
	switch {
	case strings.HasPrefix(hash, "$y$"):
		got, err := yescrypt.Hash([]byte(password), []byte(hash))
		return err == nil && subtle.ConstantTimeCompare(got, []byte(hash)) == 1
	case strings.HasPrefix(hash, "$5$"), strings.HasPrefix(hash, "$6$"):
		d, err := shacrypt.Decode(hash)
		if err != nil {
			return false
		}
		ok, err := d.MatchAdvanced(password)
		return err == nil && ok
	case strings.HasPrefix(hash, "$2"):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	}
	return false
}
