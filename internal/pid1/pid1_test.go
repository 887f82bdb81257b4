package pid1

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/passgate/passgate/internal/supervisor"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the process under test: PID1_TEST_MODE
// selects what it does, in a process of its own (a mount namespace of
// its own, or a child subreaper standing in for PID 1).
func TestMain(m *testing.M) {
	switch os.Getenv("PID1_TEST_MODE") {
	case "":
		os.Exit(m.Run())
	case "mount":
		mountMode(os.Getenv("PID1_TEST_ROOT"))
	case "reap":
		reapMode()
	case "supervise":
		superviseMode()
	case "crash":
		os.Exit(3)
	}
	os.Exit(100)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts file systems in a mount namespace of its own and needs root; run `make test` as root")
	}
}

// child runs the test binary in mode, in a new mount namespace (private
// propagation: nothing it mounts reaches the host), and returns its
// output.
func child(t *testing.T, mode string, env ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "PID1_TEST_MODE="+mode), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", mode, err, out)
	}
	return string(out)
}

// mountMode mounts under root twice and prints the errors of each call
// and then the mounts under root from mountinfo: "target fstype".
func mountMode(root string) {
	for i := 1; i <= 2; i++ {
		for _, err := range MountAll(root) {
			fmt.Printf("call %d: error: %v\n", i, err)
		}
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options... - fstype source super
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		if rel, ok := strings.CutPrefix(fields[4], root+"/"); ok {
			fmt.Printf("mounted %s %s\n", rel, fields[sep+1])
		}
	}
	if t, err := os.Readlink(filepath.Join(root, "dev/ptmx")); err == nil {
		fmt.Println("ptmx ->", t)
	}
	os.Exit(0)
}

func TestMountAll(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	out := child(t, "mount", "PID1_TEST_ROOT="+root)
	var want []string
	for _, m := range Mounts {
		want = append(want, "mounted "+m.Target+" "+m.FSType)
	}
	want = append(want, "ptmx -> pts/ptmx")
	if got := strings.TrimSpace(out); got != strings.Join(want, "\n") {
		t.Errorf("mounted twice under %s (each once, in order, no errors), got:\n%s\nwant:\n%s", root, got, strings.Join(want, "\n"))
	}
	// The host's view: nothing leaked out of the child's namespace.
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), root) {
		t.Errorf("a mount under %s is visible outside the child's namespace", root)
	}
}

// A mount point that cannot be made fails that mount and the ones on it,
// and the others are still mounted.
func TestMountAllGoesOnPastAFailure(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "dev"), []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := child(t, "mount", "PID1_TEST_ROOT="+root)
	for _, want := range []string{
		"call 1: error: mount devtmpfs on /dev: mkdir " + root + "/dev: not a directory",
		"call 1: error: mount devpts on /dev/pts: skipped, /dev is not mounted",
		"call 1: error: mount tmpfs on /dev/shm: skipped, /dev is not mounted",
		"mounted proc proc", "mounted sys sysfs", "mounted tmp tmpfs", "mounted run tmpfs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "mounted dev") || strings.Contains(out, "ptmx") {
		t.Errorf("something was mounted on or under the failed /dev:\n%s", out)
	}
}

// zombies lists the pids of this process's children that have exited
// and not been collected.
func zombies() []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	me := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; cut after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 && f[0] == "Z" && f[1] == strconv.Itoa(me) {
			out = append(out, pid)
		}
	}
	return out
}

// reapMode stands in for PID 1 (a child subreaper gets the orphans of
// its descendants as PID 1 does). It starts a child it waits for itself
// (exit status 5 after 300 ms), and 20 shells that each leave a
// background sleep behind as an orphan and exit; it reaps with Reap and
// prints how the owned child ended and the zombies left.
func reapMode() {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Println("error: subreaper:", err)
		os.Exit(1)
	}
	owned := exec.Command("/bin/sh", "-c", "sleep 0.3; exit 5")
	if err := owned.Start(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go Reap(ctx, func(pid int) bool { return pid == owned.Process.Pid })
	for i := 0; i < 20; i++ {
		if err := exec.Command("/bin/sh", "-c", "sleep 0.1 & exit 0").Run(); err != nil {
			fmt.Println("error: orphan maker:", err)
		}
	}
	err := owned.Wait()
	fmt.Printf("owned child: %v\n", err)
	// The orphans' sleeps end 100 ms after their shells; Reap gets a
	// SIGCHLD for each.
	deadline := time.Now().Add(5 * time.Second)
	for len(zombies()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	fmt.Printf("zombies left: %v\n", zombies())
	os.Exit(0)
}

func TestReapCollectsOrphansAndLeavesTheOwned(t *testing.T) {
	out := child(t, "reap")
	for _, want := range []string{"owned child: exit status 5\n", "zombies left: []\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// superviseMode runs a Supervisor whose worker exits at once, with Reap
// beside it asked about the Supervisor's own worker, for 15 restarts,
// and prints the supervisor's log: every worker's exit status must reach
// the supervisor, none be taken by the reaper.
func superviseMode() {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Println("error: subreaper:", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	n := 0
	s := &supervisor.Supervisor{
		NewWorker: func() *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "PID1_TEST_MODE=crash")
			return cmd
		},
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Logf: func(format string, args ...any) { fmt.Printf(format+"\n", args...) },
		OnExit: func(int, string) {
			mu.Lock()
			defer mu.Unlock()
			if n++; n == 15 {
				cancel()
			}
		},
	}
	go Reap(ctx, s.Owns)
	s.Run(ctx)
	os.Exit(0)
}

func TestReapLeavesTheSupervisorsWorker(t *testing.T) {
	out := child(t, "supervise")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 14 {
		t.Fatalf("want at least 14 restarts logged, got:\n%s", out)
	}
	for _, l := range lines {
		if !strings.Contains(l, "exited with status 3") {
			t.Errorf("a worker's end did not reach the supervisor as its exit status: %q", l)
		}
	}
}
