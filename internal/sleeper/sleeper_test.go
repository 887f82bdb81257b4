package sleeper

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newSleeper(t testing.TB) *Sleeper {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sleepAsync runs Sleep(d) in a goroutine and returns its result's
// channel.
func sleepAsync(s *Sleeper, d time.Duration) <-chan bool {
	c := make(chan bool, 1)
	go func() {
		woken, err := s.Sleep(d)
		if err != nil {
			panic(err)
		}
		c <- woken
	}()
	return c
}

func within(t *testing.T, c <-chan bool, what string) bool {
	t.Helper()
	select {
	case woken := <-c:
		return woken
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still asleep after 10 s", what)
		return false
	}
}

// Wake ends a sleep without a deadline, and one with a far deadline.
func TestWakeEndsSleep(t *testing.T) {
	s := newSleeper(t)
	for _, d := range []time.Duration{-1, time.Hour} {
		c := sleepAsync(s, d)
		time.Sleep(10 * time.Millisecond)
		s.Wake()
		if !within(t, c, "woken") {
			t.Errorf("Sleep(%v) ended by Wake reported a timeout", d)
		}
	}
}

// A Wake before the Sleep is not lost, and is used up by it: several
// wake-ups end one sleep, not the next.
func TestWakeBeforeSleep(t *testing.T) {
	s := newSleeper(t)
	s.Wake()
	s.Wake()
	if !within(t, sleepAsync(s, time.Hour), "woken before") {
		t.Error("a pending wake-up reported as a timeout")
	}
	if woken, err := s.Sleep(time.Millisecond); woken || err != nil {
		t.Errorf("the second sleep after two wake-ups: woken %v, %v; want a timeout", woken, err)
	}
}

// Without a wake-up the sleep lasts at least its time and reports a
// timeout.
func TestTimeout(t *testing.T) {
	s := newSleeper(t)
	for _, d := range []time.Duration{0, 50 * time.Microsecond, 2 * time.Millisecond} {
		start := time.Now()
		woken, err := s.Sleep(d)
		if err != nil || woken {
			t.Fatalf("Sleep(%v): woken %v, %v", d, woken, err)
		}
		if el := time.Since(start); el < d {
			t.Errorf("Sleep(%v) returned after %v", d, el)
		}
	}
}

// Wake after Close writes nowhere, even when the descriptor's number
// was given to another file since.
func TestWakeAfterClose(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	fd := s.fd
	s.Close()
	s.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if int(r.Fd()) != fd && int(w.Fd()) != fd {
		t.Logf("the pipe did not reuse descriptor %d (%d, %d)", fd, r.Fd(), w.Fd())
	}
	s.Wake()
	w.Close()
	if b, _ := readAll(r); len(b) != 0 {
		t.Errorf("Wake after Close wrote %d bytes into the file that reused its descriptor", len(b))
	}
}

func readAll(f *os.File) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64)
	for {
		n, err := f.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}

// BenchmarkLateness: how late a sleep of a full frame's time at 4.5
// Mbit/s (2.69 ms) ends, in an otherwise idle process, with a Sleeper
// and with a Go timer (late-µs/op).
func BenchmarkLateness(b *testing.B) {
	const d = 2691 * time.Microsecond
	for _, c := range []struct {
		name  string
		sleep func(*Sleeper)
	}{
		{"sleeper", func(s *Sleeper) { s.Sleep(d) }},
		{"timer", func(*Sleeper) { time.Sleep(d) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := newSleeper(b)
			var late time.Duration
			for b.Loop() {
				start := time.Now()
				c.sleep(s)
				late += time.Since(start) - d
			}
			b.ReportMetric(float64(late.Microseconds())/float64(b.N), "late-µs/op")
		})
	}
}

// Prioritize raises the calling goroutine's own thread, and only its.
func TestPrioritize(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("raising a thread's priority needs root (CAP_SYS_NICE); run the tests as root")
	}
	type tids struct{ self, other int }
	got, done := make(chan tids), make(chan struct{})
	defer close(done)
	go func() {
		if err := Prioritize(-7); err != nil {
			t.Error(err)
		}
		other := make(chan int)
		go func() { other <- unix.Gettid() }()
		got <- tids{unix.Gettid(), <-other}
		<-done // still locked: the thread ends with this goroutine
	}()
	ids := <-got
	if n := threadNice(t, ids.self); n != -7 {
		t.Errorf("the prioritized thread runs at nice %d, want -7", n)
	}
	if ids.other == ids.self {
		t.Error("another goroutine ran on the prioritized thread")
	} else if n := threadNice(t, ids.other); n == -7 {
		t.Errorf("another goroutine's thread %d runs at nice -7 too", ids.other)
	}
}

// threadNice reads thread tid's nice value from /proc (field 19 of stat).
func threadNice(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
	n, err := strconv.Atoi(f[16])                            // field 19 of stat, 17th after comm
	if err != nil {
		t.Fatal(err)
	}
	return n
}
