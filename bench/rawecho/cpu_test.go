package rawecho

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eqgate/eqgate"
)

// The server under test runs in a child process (this test binary, started
// with EQGATE_BENCH_SERVER set), so its CPU time can be read from
// /proc/<pid>/stat apart from the load generator's.

const serverEnv = "EQGATE_BENCH_SERVER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(serverEnv); mode != "" {
		os.Exit(childServer(mode))
	}
	os.Exit(m.Run())
}

type echoHandler struct{}

func (echoHandler) OnOpen(eqgate.Session) {}
func (echoHandler) OnMessage(s eqgate.Session, stream int, data []byte) {
	_ = s.Send(max(stream, 0), data, true) // a refused echo shows as a missing one
}
func (echoHandler) OnClose(eqgate.Session, eqgate.CloseReason) {}

// childServer serves until stdin closes. mode is "raw/N" or "eqgate/N".
func childServer(mode string) int {
	kind, ns, _ := strings.Cut(mode, "/")
	n, _ := strconv.Atoi(ns)
	var addr string
	var closer func() error
	var stats func() (in, out, batches uint64)
	switch kind {
	case "raw":
		s, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), n, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		addr, closer = s.Addr().String(), s.Close
		stats = func() (uint64, uint64, uint64) { b, d := s.Stats(); return d, d, b }
	default:
		s, err := eqgate.Listen("127.0.0.1:0", eqgate.Config{Shards: n, Steering: true}, echoHandler{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		addr, closer = s.Addr().String(), s.Close
		stats = func() (uint64, uint64, uint64) {
			st := s.Stats()
			return st.Total.DatagramsIn, st.Total.DatagramsOut, st.Total.Batches
		}
	}
	// EQGATE_BENCH_SERVER_CPUPROFILE=file profiles the server process (the
	// parent's -cpuprofile sees only the load generator).
	if f := os.Getenv(serverEnv + "_CPUPROFILE"); f != "" {
		out, err := os.Create(f + "." + kind + strconv.Itoa(n))
		if err == nil && pprof.StartCPUProfile(out) == nil {
			defer func() { pprof.StopCPUProfile(); _ = out.Close() }()
		}
	}
	fmt.Println(addr)
	for {
		// A line asks for the counters; EOF (the parent closed stdin) stops us.
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			break
		}
		in, out, batches := stats()
		fmt.Println(in, out, batches)
	}
	_ = closer()
	return 0
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	addr  string
}

// datagrams asks the child for its datagram and receive-batch counters.
func (c *child) datagrams(b *testing.B) (in, out, batches uint64) {
	if _, err := io.WriteString(c.stdin, "stats\n"); err != nil {
		b.Fatal(err)
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	_, _ = fmt.Sscan(line, &in, &out, &batches)
	return in, out, batches
}

func startChild(b *testing.B, mode string) *child {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"="+mode)
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReader(out)
	line, err := r.ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	return &child{cmd: cmd, stdin: in, out: r, addr: strings.TrimSpace(line)}
}

func (c *child) stop() {
	_ = c.stdin.Close()
	_ = c.cmd.Wait()
}

// cpu returns the child's user+system CPU time.
func (c *child) cpu(b *testing.B) time.Duration {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/stat")
	if err != nil {
		b.Skip("no /proc: ", err)
	}
	s := string(raw)
	fs := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fs[11], 10, 64)
	st, _ := strconv.ParseInt(fs[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

const (
	clients = 16
	msgSize = 64
)

// BenchmarkServerCPU echoes 64-byte messages through a server in a child
// process, from clients with a fixed window, and reports the server's CPU
// per echoed message next to the raw batched echo floor.
func BenchmarkServerCPU(b *testing.B) {
	for _, w := range []int{1, 8} {
		for _, mode := range []string{"raw/1", "eqgate/1", "raw/2", "eqgate/2"} {
			b.Run(fmt.Sprintf("window=%d/%s", w, strings.ReplaceAll(mode, "/", "-")), func(b *testing.B) {
				benchServerCPU(b, mode, w)
			})
		}
	}
}

func benchServerCPU(b *testing.B, mode string, window int) {
	{
		{
			c := startChild(b, mode)
			defer c.stop()
			var run func(total int64) int64
			if strings.HasPrefix(mode, "raw") {
				run = func(total int64) int64 { return rawLoad(b, c.addr, total, window) }
			} else {
				run = func(total int64) int64 { return eqgateLoad(b, c.addr, total, window) }
			}
			run(2000) // warm up: sessions, buffers
			cpu0 := c.cpu(b)
			in0, out0, batches0 := c.datagrams(b)
			b.ReportAllocs()
			b.ResetTimer()
			got := run(int64(b.N))
			b.StopTimer()
			cpu := c.cpu(b) - cpu0
			in, out, batches := c.datagrams(b)
			dgIn := float64(in - in0)
			nb := float64(batches - batches0)
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(got), "server-cpu-ns/msg")
			b.ReportMetric(float64(cpu.Nanoseconds())/dgIn, "server-cpu-ns/dgram-in")
			b.ReportMetric(dgIn/float64(got), "dgram-in/msg")
			b.ReportMetric(float64(out-out0)/float64(got), "dgram-out/msg")
			b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "msgs/s")
			// The server's cost is mostly per wake-up (one recvmmsg batch):
			// these two separate the engine's cost per wake-up from how
			// many datagrams the load delivers per wake-up.
			b.ReportMetric(dgIn/nb, "dgram-in/batch")
			b.ReportMetric(float64(cpu.Nanoseconds())/nb, "server-cpu-ns/batch")
		}
	}
}

// rawLoad sends total messages over plain UDP sockets with a window and
// returns how many came back.
func rawLoad(b *testing.B, addr string, total int64, window int) int64 {
	var sent, got atomic.Int64
	var wg sync.WaitGroup
	ua, _ := net.ResolveUDPAddr("udp4", addr)
	for range clients {
		conn, err := net.DialUDP("udp4", nil, ua)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer conn.Close()
			msg := make([]byte, msgSize)
			buf := make([]byte, 2048)
			inflight := 0
			for {
				for inflight < window && sent.Add(1) <= total {
					_, _ = conn.Write(msg)
					inflight++
				}
				if inflight == 0 {
					return
				}
				_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond)) // a lost datagram ends this client's wait
				if _, err := conn.Read(buf); err != nil {
					inflight-- // count it lost
					continue
				}
				inflight--
				got.Add(1)
			}
		})
	}
	wg.Wait()
	return got.Load()
}

// loadClient keeps window messages in flight on one session from its
// Handler (on the client's shard goroutine).
type loadClient struct {
	msg    []byte
	sent   *atomic.Int64
	got    *atomic.Int64
	total  int64
	window int
	done   chan struct{}
	open   int
}

func (l *loadClient) OnOpen(eqgate.Session) {}
func (l *loadClient) OnMessage(s eqgate.Session, _ int, _ []byte) {
	l.got.Add(1)
	l.open--
	l.pump(s)
}
func (l *loadClient) OnClose(eqgate.Session, eqgate.CloseReason) {}

func (l *loadClient) pump(s eqgate.Session) {
	for l.open < l.window && l.sent.Add(1) <= l.total {
		if s.Send(0, l.msg, true) == nil {
			l.open++
		}
	}
	if l.open == 0 {
		select {
		case <-l.done:
		default:
			close(l.done)
		}
	}
}

func eqgateLoad(b *testing.B, addr string, total int64, window int) int64 {
	var sent, got atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		l := &loadClient{msg: make([]byte, msgSize), sent: &sent, got: &got, total: total, window: window, done: make(chan struct{})}
		l.msg[0] = 0x50
		conn, err := eqgate.Dial(addr, eqgate.Config{}, l)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer conn.Close()
			_ = conn.Post(func() { l.pump(conn.Session()) })
			select {
			case <-l.done:
			case <-time.After(60 * time.Second): // bound on a stuck run
				b.Error("load client stuck")
			}
		})
	}
	wg.Wait()
	return got.Load()
}
