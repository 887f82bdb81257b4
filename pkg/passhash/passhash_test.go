package passhash_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/passgate/passgate/internal/sysdeps"
	"github.com/passgate/passgate/pkg/passhash"
)

// Fixed vectors. SHA-512 ones were made on Debian bookworm with "openssl
// passwd -6 -salt S P" and, for custom rounds, glibc/libxcrypt crypt(3)
// (the first is the example of the published description); the others
// with Debian's mkpasswd (package whois, libxcrypt).
var good = []struct{ password, hash string }{
	{"Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"correct horse battery staple", "$6$passgate$9.JouSTjwIF8lYy2.mmfgq1nvjXX1z25hw2Cyp1ElxTVpOFkOSX9oHuxceZrUrEy82TCvC2RfpOpB0BQXjRCA."},
	{"longsalt", "$6$0123456789abcdef$OKTzCIpz7jMHrqTexnQ.TzM097kSwyD/kwF.GSGvSE.GzqoaaevpJCrgAXuo7qvpEJ561hh3Z/Rk6N9eAO1220"},
	{strings.Repeat("p", 130), "$6$abc$7HVaPSQhx0404miTcvQyyL8fJSOuMb02msVTGodvvVKzCASX37K0zKS0xhfPX4kO.sy/7sJzOIX3kp9d.R.rJ1"},
	{"", "$6$x$QSmr1Bx2g4O6BzKvdkgOcyU6H91X6I/XBv5pSalMhSPkwdH6Beo3F455xZJg0v//bxVK5F4OE5k1.0xuR26MK0"},
	{"pässwörd", "$6$utf8salt$Nf6juS0Q3mv0f53eB4BVd6Njt8ABkI/Nw9Yqy9ZA65U6sGRcr2ajrL8Kwlq2SfdEvHi3Rhn/AVzWRrTM5gRn80"},
	{"Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"admin", "$6$rounds=1000$ab$1PgAm9e5v49cWGpn2klDYEc7bGTy.LXVAnIZ3P5dxyQB/0cCFlB4fWZAOeh7gNFLUA1MsB80qzb7xdaAC3K/W1"},
	{"admin", "$6$rounds=5000$ab$XRTy1.34Wfo7bJXHnmZfjRpF1J20WqfHuS1efWDhGIGVh0HLSMspnjKYEmWU/W4DI/9IGfW6Sw0WzV4Lnir5A0"},
	{strings.Repeat("x", 64), "$6$rounds=1234$$LaEtBZ3cHq3MqcXNIk..o2dJjQv/EQrrn5kyiTZyNA17HBIXbURBdxrEWCCcIf2Twdfy2WF3TFseSUn8RTpXd/"},
	// mkpasswd -m sha-256 [-R 1000] -S SALT
	{"correct horse battery staple", "$5$passgate5salt$y0DOOC13c41plXNAmVjCnDsnuqCFCcMe3DWjqfxPWy8"},
	{"correct horse battery staple", "$5$rounds=1000$abcdefgh$e6L/jnksFK.lGRjnmE6utEeW4Tmz1tlQP.bCZd38LS9"},
	// mkpasswd (yescrypt is its default), -R 1 and -R 6
	{"pässwörd", "$y$j9T$ZJElARxWmxpsYu6WUgcpJ1$wjwcmkamQepAoPi/nzctvPpYkh56Uv7hXYJqivOLGr/"},
	{"", "$y$j9T$bE4wlJroGd3sMoEv8KQJS1$82n5aIy7shWW5yAXcgmnll9uqkQYUHIL0Q2Qs//44T2"},
	{"correct horse battery staple", "$y$j75$4Ii0Net8lO7GXeAviDmPx/$CsXawhaduFcNbfizJBnCUL1u2Lock4qbkfzOpev73M6"},
	{"correct horse battery staple", "$y$jAT$GoMsx8cWB8DNtm4MRpwlF0$Y5BSOWCx6w1PP6AUVTZRPLicKJBozz.Cc7E2MMP3x.3"},
	// mkpasswd -m bcrypt and -m bcrypt-a
	{"correct horse battery staple", "$2b$05$sneZO83.00nBlvOlKb2JgecbVfot0JcGi4QeJa4PmGOXCuH7y9fGG"},
	{"x", "$2a$05$OQKCCRh9cc8.gKHWrXzrWetP0QSpPiMTUuqCJKMmtqdG336V06S8q"},
}

func TestVectors(t *testing.T) {
	for _, v := range good {
		if err := passhash.Check(v.hash); err != nil {
			t.Errorf("Check(%q): %v", v.hash, err)
			continue
		}
		if !passhash.Verify(v.hash, v.password) {
			t.Errorf("Verify(%q) refused the right password %q", v.hash, v.password)
		}
		if passhash.Verify(v.hash, v.password+"x") {
			t.Errorf("Verify(%q) accepted a wrong password", v.hash)
		}
	}
}

// Refused hashes: each names why (the words in want) and what to do.
func TestRefused(t *testing.T) {
	for _, c := range []struct{ hash, want string }{
		{"", "empty"},
		{"admin", "not a password hash"},
		{"correct horse battery staple", "not a password hash"},
		// mkpasswd -m md5crypt, descrypt, bsdicrypt, sunmd5, nt
		{"$1$y4t6wp8Z$FDTWkZkwqnlrv3xTORg2Y/", "MD5-crypt hash, which is weak"},
		{"0p9DKWtzweMIU", "DES-crypt hash, which is weak"},
		{"_J9..pA9OLuSd8mQ2iAs", "BSDi DES-crypt hash, which is weak"},
		{"$md5,rounds=53104$3u1rkaaN$$RaY3hoexceM6hWRA8Bjq4/", "SunMD5 hash, which is weak"},
		{"$3$$a9f0dd57e1edab5bb55a9ac0a99c15ec", "NT hash, which is weak"},
		{"$2x$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234", "known flaw"},
		// mkpasswd -m scrypt, gost-yescrypt
		{"$7$CU..../..../KQktwr/Q.KS.9VMwDZmi.$EzqFlf2MKIl5gajlChjfsTdcYNkiJVgpJNdHlkIZcw7", `"$7$" hash, which the router cannot verify`},
		{"$gy$j9T$nygfeatAnXqeb8yxGGJFn0$MPXYUlQje1uWaZpoEoOauYbiPLzw3iNLKK6d5QSSKG4", `"$gy$" hash, which the router cannot verify`},
		{"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", `"$argon2id$" hash`},
		// too costly: mkpasswd -m yescrypt -R 7, -m sha-512 -R 1000001
		{"$y$jBT$qIpkUbL2NJjQUVIhG.de0.$O66MAMnx4i5cqjRx5iwrLYmYkBnwcUdGlBQGSPiYuj4", "needs 64 MiB of memory"},
		{"$6$rounds=1000001$oGlfMjqwlE7yER39$XIi.dqh85E4M63d/I3DpDDP3cYJqbOGUvQ/UqHqokFSQuiS9ogJtWMyl0zcktiB0it4/NNmR1dAdOpNrb./8L0", "1000001 rounds"},
		{"$2b$13$sneZO83.00nBlvOlKb2JgecbVfot0JcGi4QeJa4PmGOXCuH7y9fGG", "bcrypt cost 13"},
		// damaged
		{"$6$", "missing"},
		{"$6$rounds=10$ab$x", "has 10 rounds"},
		{"$6$rounds=999$ab$1PgAm9e5v49cWGpn2klDYEc7bGTy.LXVAnIZ3P5dxyQB/0cCFlB4fWZAOeh7gNFLUA1MsB80qzb7xdaAC3K/W1", "999 rounds"},
		{"$6$rounds=abc$ab$x", "not a number"},
		{"$6$rounds=1000", "missing"},
		{"$6$passgate$9.JouSTjwIF8lYy2.mmfgq1nvjXX1z25hw2Cyp1ElxTVpOFkOSX9oHuxceZrUrEy82TCvC2RfpOpB0BQXjRCA", "86"},
		{"$6$0123456789abcdefg$OKTzCIpz7jMHrqTexnQ.TzM097kSwyD/kwF.GSGvSE.GzqoaaevpJCrgAXuo7qvpEJ561hh3Z/Rk6N9eAO1220", "salt"},
		{"$5$passgate5salt$y0DOOC13c41plXNAmVjCnDsnuqCFCcMe3DWjqfxPWy", "43"},
		{"$y$j9T$ZJElARxWmxpsYu6WUgcpJ1$wjwcmkamQepAoPi/nzctvPpYkh56Uv7hXYJqivOLGr", "damaged yescrypt"},
		{"$y$j9T$ZJElARxWmxpsYu6WUgcpJ1$wjwcmkamQepAoPi/nzctvPpYkh56Uv7hXYJqivOLGrz", "damaged yescrypt"}, // high bits set
		{"$y$k9T$ZJElARxWmxpsYu6WUgcpJ1$wjwcmkamQepAoPi/nzctvPpYkh56Uv7hXYJqivOLGr/", "yescrypt hash the router supports"},
		{"$y$j9T$$wjwcmkamQepAoPi/nzctvPpYkh56Uv7hXYJqivOLGr/", "salt"},
		{"$y$j.T$ZJElARxWmxpsYu6WUgcpJ1$wjwcmkamQepAoPi/nzctvPpYkh56Uv7hXYJqivOLGr/", "out of the supported range"},
		{"$2a$", "not a valid bcrypt"},
		{"$2b$05$sneZO83.00nBlvOlKb2JgecbVfot0JcGi4QeJa4PmGOXCuH7y9fG", "not a valid bcrypt"},
		{"$2b$03$sneZO83.00nBlvOlKb2JgecbVfot0JcGi4QeJa4PmGOXCuH7y9fGG", "not a valid bcrypt"},
		{"*", "not a password hash"},
		{"!", "not a password hash"},
		{"$6$" + strings.Repeat("a", 600), "more than any supported hash"},
	} {
		err := passhash.Check(c.hash)
		var pe *passhash.Error
		if err == nil || !errors.As(err, &pe) {
			t.Errorf("Check(%q) = %v, want a refusal", c.hash, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || !strings.Contains(msg, "mkpasswd -m sha-512") {
			t.Errorf("Check(%q):\n %s\nwant it to say %q and how to make a hash", c.hash, msg, c.want)
		}
		for _, pw := range []string{"", "x", "admin", "correct horse battery staple"} {
			if passhash.Verify(c.hash, pw) {
				t.Errorf("refused hash %q verified password %q", c.hash, pw)
			}
		}
	}
}

// A bcrypt hash of each of the accepted prefixes, made by x/crypto.
func TestBcryptPrefixes(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		hash := prefix + string(h[4:])
		if err := passhash.Check(hash); err != nil {
			t.Errorf("Check(%s): %v", prefix, err)
		}
		if !passhash.Verify(hash, "s3cret") || passhash.Verify(hash, "s3cret!") {
			t.Errorf("%s hash does not verify as it should", prefix)
		}
	}
}

// Debian's mkpasswd (package whois, libxcrypt: what makes the hashes of
// Debian's own accounts) makes fresh hashes with random salts: every
// method the router accepts verifies, every other one is refused by Check.
func TestMkpasswd(t *testing.T) {
	if err := sysdeps.Require(sysdeps.Mkpasswd); err != nil {
		t.Fatalf("this test makes hashes with Debian's mkpasswd: %v", err)
	}
	mk := func(password string, args ...string) string {
		t.Helper()
		cmd := exec.Command(sysdeps.Mkpasswd.Bin, append([]string{"--stdin"}, args...)...)
		cmd.Stdin = strings.NewReader(password)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mkpasswd %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct {
		args   []string
		verify bool // the costliest ones (at the bounds) are only checked
	}{
		{nil, true}, {[]string{"-m", "yescrypt"}, true}, {[]string{"-m", "yescrypt", "-R", "1"}, true},
		{[]string{"-m", "yescrypt", "-R", "6"}, false},
		{[]string{"-m", "sha-512"}, true}, {[]string{"-m", "sha-512", "-R", "1000"}, true},
		{[]string{"-m", "sha-512", "-R", "1000000"}, false},
		{[]string{"-m", "sha-256"}, true}, {[]string{"-m", "sha-256", "-R", "20000"}, true},
		{[]string{"-m", "bcrypt"}, true}, {[]string{"-m", "bcrypt", "-R", "12"}, false}, {[]string{"-m", "bcrypt-a"}, true},
	} {
		b := make([]byte, 12)
		rand.Read(b)
		pw := hex.EncodeToString(b) + " ü"
		hash := mk(pw, c.args...)
		if err := passhash.Check(hash); err != nil {
			t.Errorf("mkpasswd %v made %q, which Check refuses: %v", c.args, hash, err)
			continue
		}
		if !c.verify {
			continue
		}
		if !passhash.Verify(hash, pw) {
			t.Errorf("mkpasswd %v: %q does not verify its password", c.args, hash)
		}
		if passhash.Verify(hash, pw[:len(pw)-1]) {
			t.Errorf("mkpasswd %v: %q verifies a wrong password", c.args, hash)
		}
	}
	for _, args := range [][]string{
		{"-m", "md5crypt"}, {"-m", "descrypt"}, {"-m", "bsdicrypt"}, {"-m", "sunmd5"}, {"-m", "nt"},
		{"-m", "scrypt"}, {"-m", "gost-yescrypt"}, // costs over the bounds: TestRefused
	} {
		hash := mk("x", args...)
		if err := passhash.Check(hash); err == nil {
			t.Errorf("mkpasswd %v made %q, which Check accepts", args, hash)
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, v := range good {
		f.Add(v.hash, v.password)
	}
	f.Add("$1$y4t6wp8Z$FDTWkZkwqnlrv3xTORg2Y/", "x")
	f.Add("$y$jFT$Ktra142IE1tQqN5dNr.Kb0$ArBSM6rbQRPs8FbL2ahtsUgzD6lrOkSyWEnAl.KoSS/", "x")
	f.Fuzz(func(t *testing.T, hash, password string) {
		err := passhash.Check(hash)
		if err != nil {
			if passhash.Verify(hash, password) {
				t.Fatalf("refused hash %q verified", hash)
			}
			return
		}
		passhash.Verify(hash, password) // must not fail or panic
	})
}

// The cost of one verification of each kind at its usual settings (what
// a login attempt with a password costs the router).
func BenchmarkVerify(b *testing.B) {
	for _, c := range []struct{ name, hash string }{
		{"yescrypt-R5", "$y$j9T$ZJElARxWmxpsYu6WUgcpJ1$wjwcmkamQepAoPi/nzctvPpYkh56Uv7hXYJqivOLGr/"},
		{"yescrypt-R6", "$y$jAT$GoMsx8cWB8DNtm4MRpwlF0$Y5BSOWCx6w1PP6AUVTZRPLicKJBozz.Cc7E2MMP3x.3"},
		{"sha512crypt-5000", "$6$passgate$9.JouSTjwIF8lYy2.mmfgq1nvjXX1z25hw2Cyp1ElxTVpOFkOSX9oHuxceZrUrEy82TCvC2RfpOpB0BQXjRCA."},
		{"sha256crypt-5000", "$5$passgate5salt$y0DOOC13c41plXNAmVjCnDsnuqCFCcMe3DWjqfxPWy8"},
		{"bcrypt-5", "$2b$05$sneZO83.00nBlvOlKb2JgecbVfot0JcGi4QeJa4PmGOXCuH7y9fGG"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				passhash.Verify(c.hash, "x")
			}
		})
	}
}
