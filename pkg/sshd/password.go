package sshd

import (
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// checkPassword reports whether password matches a crypt(3) hash from
// "system admin password-hash": bcrypt ($2a$, $2b$, $2y$) or SHA-512
// crypt ($6$). Any other or malformed hash matches nothing. An empty hash
// matches nothing: there is never a default password.
func checkPassword(hash, password string) bool {
	switch {
	case hash == "":
		return false
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		// The three prefixes name the same algorithm for passwords that
		// are not longer than 72 bytes (2b and 2y fixed bugs of other
		// implementations); x/crypto/bcrypt reads any of them.
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	case strings.HasPrefix(hash, "$6$"):
		got, err := sha512Crypt(password, hash)
		return err == nil && subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
	}
	return false
}

// SHA-512 crypt, from Ulrich Drepper's published description "Unix crypt
// using SHA-256 and SHA-512" (the $6$ scheme of glibc).

const (
	sha512DefaultRounds = 5000
	sha512MinRounds     = 1000
	sha512MaxRounds     = 999999999
	sha512MaxSalt       = 16
	cryptAlphabet       = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

var errBadHash = errors.New("not a valid $6$ hash")

// sha512Crypt hashes password with the settings of setting ("$6$salt" or
// "$6$rounds=N$salt", optionally followed by "$" and a hash, which is
// ignored) and returns the full crypt string. Rounds outside 1000 to
// 999999999 are refused (as libxcrypt does).
func sha512Crypt(password, setting string) (string, error) {
	rest, ok := strings.CutPrefix(setting, "$6$")
	if !ok {
		return "", errBadHash
	}
	rounds, custom := sha512DefaultRounds, false
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		num, after, found := strings.Cut(r, "$")
		if !found {
			return "", errBadHash
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n < sha512MinRounds || n > sha512MaxRounds {
			return "", errBadHash
		}
		rounds, custom, rest = int(n), true, after
	}
	salt, _, _ := strings.Cut(rest, "$")
	if len(salt) > sha512MaxSalt {
		salt = salt[:sha512MaxSalt]
	}
	p, s := []byte(password), []byte(salt)

	// Digest B: password, salt, password.
	hb := sha512.New()
	hb.Write(p)
	hb.Write(s)
	hb.Write(p)
	b := hb.Sum(nil)

	// Digest A: password, salt, then B for as many bytes as the
	// password has, then for each bit of the password's length (lowest
	// first) B for a one and the password for a zero.
	ha := sha512.New()
	ha.Write(p)
	ha.Write(s)
	ha.Write(repeatTo(b, len(p)))
	for n := len(p); n > 0; n >>= 1 {
		if n&1 != 0 {
			ha.Write(b)
		} else {
			ha.Write(p)
		}
	}
	a := ha.Sum(nil)

	// Digest DP: the password once per byte of it; P is DP cut or
	// repeated to the password's length.
	hdp := sha512.New()
	for range p {
		hdp.Write(p)
	}
	pseq := repeatTo(hdp.Sum(nil), len(p))

	// Digest DS: the salt 16 + A[0] times; S is DS cut to the salt's
	// length.
	hds := sha512.New()
	for i := 0; i < 16+int(a[0]); i++ {
		hds.Write(s)
	}
	sseq := repeatTo(hds.Sum(nil), len(s))

	// The rounds.
	c := a
	h := sha512.New()
	for i := 0; i < rounds; i++ {
		h.Reset()
		if i&1 != 0 {
			h.Write(pseq)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sseq)
		}
		if i%7 != 0 {
			h.Write(pseq)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(pseq)
		}
		c = h.Sum(c[:0])
	}

	var out strings.Builder
	out.WriteString("$6$")
	if custom {
		out.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	out.WriteString(salt)
	out.WriteByte('$')
	// The digest's bytes are encoded in this order, three at a time,
	// each group as four characters of 6 bits, least significant first.
	order := [...][3]int{
		{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
		{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51},
		{31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35},
		{15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19},
		{62, 20, 41},
	}
	for _, g := range order {
		encode24(&out, c[g[0]], c[g[1]], c[g[2]], 4)
	}
	encode24(&out, 0, 0, c[63], 2)
	return out.String(), nil
}

// repeatTo returns d repeated (and cut) to n bytes.
func repeatTo(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out)+len(d) <= n {
		out = append(out, d...)
	}
	return append(out, d[:n-len(out)]...)
}

func encode24(out *strings.Builder, b2, b1, b0 byte, n int) {
	w := uint32(b2)<<16 | uint32(b1)<<8 | uint32(b0)
	for ; n > 0; n-- {
		out.WriteByte(cryptAlphabet[w&0x3f])
		w >>= 6
	}
}
