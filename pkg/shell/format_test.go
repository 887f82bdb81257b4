package shell

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// wrapQuadratic is the former wrap, kept as the reference the linear one
// must match: it rebuilt the rest of the text for every line it cut.
func wrapQuadratic(text string, width int, indent string) string {
	var out []string
	ind := []rune(indent)
	for _, para := range strings.Split(text, "\n") {
		line := []rune(para)
		for len(line) > width {
			cut := -1
			for i := width; i > len(ind); i-- {
				if line[i] == ' ' {
					cut = i
					break
				}
			}
			if cut < 0 {
				for i := width; i < len(line); i++ {
					if line[i] == ' ' {
						cut = i
						break
					}
				}
				if cut < 0 {
					break
				}
			}
			head := strings.TrimRight(string(line[:cut]), " ")
			rest := strings.TrimLeft(string(line[cut:]), " ")
			if rest == "" {
				line = []rune(head)
				break
			}
			out = append(out, head)
			line = append(append([]rune(nil), ind...), []rune(rest)...)
		}
		out = append(out, string(line))
	}
	return strings.Join(out, "\n")
}

// TestWrapMatchesReference: the linear wrap gives exactly what the former
// one gave, on random text of words, runs of spaces, newlines and long
// words.
func TestWrapMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	pieces := []string{"a", "bb", "word", "é", "  ", " ", "\n", "averyveryverylongwordthatdoesnotfit", "x y", "   "}
	for i := 0; i < 20000; i++ {
		var b strings.Builder
		for n := rng.Intn(40); n > 0; n-- {
			b.WriteString(pieces[rng.Intn(len(pieces))])
		}
		text := b.String()
		width := 8 + rng.Intn(30)
		indent := strings.Repeat(" ", rng.Intn(6))
		if got, want := wrap(text, width, indent), wrapQuadratic(text, width, indent); got != want {
			t.Fatalf("wrap(%q, %d, %q):\ngot  %q\nwant %q", text, width, indent, got, want)
		}
	}
}

// FuzzWrap: the linear wrap matches the former one on any text.
func FuzzWrap(f *testing.F) {
	f.Add("aaa bbb ccc ddd", 8, "  ")
	f.Add("averyveryverylongword and  x\n  y", 10, "    ")
	f.Fuzz(func(t *testing.T, text string, width int, indent string) {
		if len(text) > 2000 || width < 8 || width > 200 || len(indent) > width/2 {
			return
		}
		if got, want := wrap(text, width, indent), wrapQuadratic(text, width, indent); got != want {
			t.Fatalf("wrap(%q, %d, %q):\ngot  %q\nwant %q", text, width, indent, got, want)
		}
	})
}

// TestWrapLongLine: an error quoting a 1 MB line wraps to output of about
// the same size (the former wrap needed about a minute for it; see
// BenchmarkWrap).
func TestWrapLongLine(t *testing.T) {
	line := strings.Repeat("set nat ", 1<<17) // 1 MiB
	got := wrap("error: "+line, 79, "  ")
	if len(got) > len(line)+len(line)/70*3+100 {
		t.Errorf("wrapped %d bytes into %d", len(line), len(got))
	}
	for _, l := range strings.Split(got, "\n") {
		if len(l) > 79 {
			t.Fatalf("a line of %d columns", len(l))
		}
	}
}

// BenchmarkWrap: the cost of wrapping an error that quotes a line of n
// bytes, linear and (up to 16 KiB) the former quadratic way.
func BenchmarkWrap(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 14, 1 << 20} {
		line := "error: " + strings.Repeat("word ", n/5)
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for i := 0; i < b.N; i++ {
				wrap(line, 79, "  ")
			}
		})
		if n <= 1<<14 {
			b.Run(fmt.Sprintf("quadratic-%dKiB", n>>10), func(b *testing.B) {
				b.SetBytes(int64(len(line)))
				for i := 0; i < b.N; i++ {
					wrapQuadratic(line, 79, "  ")
				}
			})
		}
	}
}
