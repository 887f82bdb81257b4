package sshd

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Vectors generated on Debian bookworm with "openssl passwd -6 -salt S P"
// and, for custom rounds, glibc/libxcrypt crypt(3) through Python's crypt
// module. The first is also the example of the published description.
var sha512Vectors = []struct{ password, hash string }{
	{"Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"correct horse battery staple", "$6$passgate$9.JouSTjwIF8lYy2.mmfgq1nvjXX1z25hw2Cyp1ElxTVpOFkOSX9oHuxceZrUrEy82TCvC2RfpOpB0BQXjRCA."},
	// a salt longer than 16 characters is cut
	{"longsalt", "$6$0123456789abcdef$OKTzCIpz7jMHrqTexnQ.TzM097kSwyD/kwF.GSGvSE.GzqoaaevpJCrgAXuo7qvpEJ561hh3Z/Rk6N9eAO1220"},
	// a password longer than 64 and 128 bytes
	{strings.Repeat("p", 130), "$6$abc$7HVaPSQhx0404miTcvQyyL8fJSOuMb02msVTGodvvVKzCASX37K0zKS0xhfPX4kO.sy/7sJzOIX3kp9d.R.rJ1"},
	{"", "$6$x$QSmr1Bx2g4O6BzKvdkgOcyU6H91X6I/XBv5pSalMhSPkwdH6Beo3F455xZJg0v//bxVK5F4OE5k1.0xuR26MK0"},
	{"pässwörd", "$6$utf8salt$Nf6juS0Q3mv0f53eB4BVd6Njt8ABkI/Nw9Yqy9ZA65U6sGRcr2ajrL8Kwlq2SfdEvHi3Rhn/AVzWRrTM5gRn80"},
	{"Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"admin", "$6$rounds=1000$ab$1PgAm9e5v49cWGpn2klDYEc7bGTy.LXVAnIZ3P5dxyQB/0cCFlB4fWZAOeh7gNFLUA1MsB80qzb7xdaAC3K/W1"},
	{"admin", "$6$rounds=5000$ab$XRTy1.34Wfo7bJXHnmZfjRpF1J20WqfHuS1efWDhGIGVh0HLSMspnjKYEmWU/W4DI/9IGfW6Sw0WzV4Lnir5A0"},
	{strings.Repeat("x", 64), "$6$rounds=1234$$LaEtBZ3cHq3MqcXNIk..o2dJjQv/EQrrn5kyiTZyNA17HBIXbURBdxrEWCCcIf2Twdfy2WF3TFseSUn8RTpXd/"},
}

func TestSHA512Crypt(t *testing.T) {
	for _, v := range sha512Vectors {
		got, err := sha512Crypt(v.password, v.hash)
		if err != nil || got != v.hash {
			t.Errorf("sha512Crypt(%q):\n got %s (%v)\nwant %s", v.password, got, err, v.hash)
		}
		if !checkPassword(v.hash, v.password) {
			t.Errorf("checkPassword(%q) refused the right password", v.hash)
		}
		if checkPassword(v.hash, v.password+"x") {
			t.Errorf("checkPassword(%q) accepted a wrong password", v.hash)
		}
	}
}

func TestBadHashes(t *testing.T) {
	for _, h := range []string{
		"", "admin", "$1$abc$xyz", "$5$abc$xyz", "$6$", "$6$rounds=10$ab$x", "$6$rounds=abc$ab$x",
		"$6$rounds=1000", "$2a$", "$2x$10$abcdefghijklmnopqrstuu", "*", "!",
	} {
		if checkPassword(h, "") || checkPassword(h, "admin") {
			t.Errorf("hash %q accepted a password", h)
		}
	}
}

func TestBcrypt(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		hash := prefix + string(h[4:])
		if !checkPassword(hash, "s3cret") {
			t.Errorf("%s hash refused the right password", prefix)
		}
		if checkPassword(hash, "s3cret!") {
			t.Errorf("%s hash accepted a wrong password", prefix)
		}
	}
}
