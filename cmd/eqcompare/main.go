// Command eqcompare runs the same eqbench load against two eqgate server
// configurations in turn, A B A B ..., each in a fresh server process, and
// prints each run and the ratios A/B of throughput, server messages per
// CPU-second and p99 latency. By default A is eqgate's batched defaults and
// B the naive baseline (one shard, batches of 1).
//
//	go run ./cmd/eqcompare -rounds 2 -- -scenario zone -duration 10s
//
// The servers are this program re-executed with -serve (eqgate.Listen with
// an echo handler) unless -eqgate names a server binary; then -a and -b
// are its arguments, with {addr} replaced by the listen address. The
// server's CPU is read from /proc/PID/stat by eqbench (-server-pid).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eqgate/eqgate"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-serve" {
		os.Exit(serve(os.Args[2:]))
	}
	os.Exit(compare())
}

func compare() int {
	fs := flag.NewFlagSet("eqcompare", flag.ContinueOnError)
	var (
		eqgateBin  = fs.String("eqgate", "", "server binary (default: the built-in echo server, this program with -serve)")
		eqbenchBin = fs.String("eqbench", "", "eqbench binary (default: go build ./cmd/eqbench)")
		aArgs      = fs.String("a", "", "server arguments for A (built-in: -shards N -batch N -max-per-ip N; default eqgate defaults)")
		bArgs      = fs.String("b", "-batch 1 -shards 1", "server arguments for B")
		aName      = fs.String("a-name", "batched", "name of A")
		bName      = fs.String("b-name", "naive", "name of B")
		rounds     = fs.Int("rounds", 2, "A B rounds")
	)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eqcompare [flags] -- [eqbench flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	benchArgs := fs.Args()
	tmp, err := os.MkdirTemp("", "eqcompare")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	if *eqbenchBin == "" {
		*eqbenchBin = filepath.Join(tmp, "eqbench")
		build := exec.Command("go", "build", "-o", *eqbenchBin, "github.com/eqgate/eqgate/cmd/eqbench")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "compare: building eqbench:", err)
			return 2
		}
	}
	builtin := *eqgateBin == ""
	if builtin {
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			return 2
		}
		*eqgateBin = self
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)

	fmt.Printf("# eqcompare %s\n", strings.Join(os.Args[1:], " "))
	fmt.Printf("# A=%s: %s %s\n# B=%s: %s %s\n# eqbench %s\n", *aName, serverName(builtin, *eqgateBin), *aArgs, *bName, serverName(builtin, *eqgateBin), *bArgs, strings.Join(benchArgs, " "))
	type cfg struct{ name, args string }
	cfgs := []cfg{{*aName, *aArgs}, {*bName, *bArgs}}
	results := map[string][]summary{}
	failed := false
	fmt.Printf("%-8s %5s %10s %10s %10s %12s %14s %6s\n", "config", "round", "msgs/s", "p50_us", "p99_us", "srv_ns/msg", "msgs/cpu-s", "ok")
	for round := 1; round <= *rounds; round++ {
		for _, c := range cfgs {
			select {
			case <-sig:
				fmt.Fprintln(os.Stderr, "compare: interrupted")
				return 2
			default:
			}
			s, err := runOne(*eqgateBin, builtin, c.args, *eqbenchBin, benchArgs)
			if err != nil {
				fmt.Fprintf(os.Stderr, "compare: %s round %d: %v\n", c.name, round, err)
				return 2
			}
			results[c.name] = append(results[c.name], s)
			fmt.Printf("%-8s %5d %10.0f %10.1f %10.1f %12.0f %14.0f %6s\n", c.name, round, s.f("msgs_per_s"), s.f("p50_us"), s.f("p99_us"),
				s.f("server_cpu_ns_per_msg"), perCPU(s.f("server_cpu_ns_per_msg")), s["ok"])
			if s["ok"] != "true" {
				failed = true
			}
		}
	}
	mean := func(name, key string) float64 {
		var sum float64
		for _, s := range results[name] {
			sum += s.f(key)
		}
		return sum / float64(len(results[name]))
	}
	a, b := *aName, *bName
	fmt.Printf("mean %s: %.0f msgs/s, p99 %.1f us, %.0f ns/msg server CPU (%.0f msgs per CPU-second)\n", a, mean(a, "msgs_per_s"), mean(a, "p99_us"), mean(a, "server_cpu_ns_per_msg"), perCPU(mean(a, "server_cpu_ns_per_msg")))
	fmt.Printf("mean %s: %.0f msgs/s, p99 %.1f us, %.0f ns/msg server CPU (%.0f msgs per CPU-second)\n", b, mean(b, "msgs_per_s"), mean(b, "p99_us"), mean(b, "server_cpu_ns_per_msg"), perCPU(mean(b, "server_cpu_ns_per_msg")))
	// Each round's A and B ran back to back, so their ratio is the figure
	// least disturbed by whatever else the machine did; the spread over
	// rounds says how far the mean can be trusted.
	lo, hi, pairs := 0.0, 0.0, 0
	for i := range min(len(results[a]), len(results[b])) {
		ca, cb := results[a][i].f("server_cpu_ns_per_msg"), results[b][i].f("server_cpu_ns_per_msg")
		if ca <= 0 || cb <= 0 {
			continue // no CPU figure for this round
		}
		r := cb / ca // msgs per CPU-second, A over B
		if pairs == 0 || r < lo {
			lo = r
		}
		if pairs == 0 || r > hi {
			hi = r
		}
		pairs++
	}
	if pairs > 0 {
		fmt.Printf("rounds %s/%s: msgs_per_cpu_s from %.2f to %.2f over %d rounds\n", a, b, lo, hi, pairs)
	}
	fmt.Printf("ratio %s/%s: msgs_per_cpu_s=%.2f msgs_per_s=%.2f p99=%.2f\n", a, b,
		perCPU(mean(a, "server_cpu_ns_per_msg"))/perCPU(mean(b, "server_cpu_ns_per_msg")),
		mean(a, "msgs_per_s")/mean(b, "msgs_per_s"), mean(a, "p99_us")/mean(b, "p99_us"))
	if failed {
		fmt.Println("# some runs were not clean (ok=false): see eqbench's output above")
		return 1
	}
	return 0
}

func serverName(builtin bool, bin string) string {
	if builtin {
		return "built-in eqgate echo server"
	}
	return bin
}

func perCPU(nsPerMsg float64) float64 {
	if nsPerMsg <= 0 {
		return 0
	}
	return 1e9 / nsPerMsg
}

// summary is eqbench's last line as key -> value.
type summary map[string]string

func (s summary) f(k string) float64 {
	v, _ := strconv.ParseFloat(s[k], 64)
	return v
}

func parseSummary(line string) summary {
	s := summary{}
	for kv := range strings.FieldsSeq(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			s[k] = v
		}
	}
	return s
}

// runOne starts a server, runs eqbench against it and stops the server.
func runOne(bin string, builtin bool, args, eqbench string, benchArgs []string) (summary, error) {
	var cmd *exec.Cmd
	var addr string
	if builtin {
		cmd = exec.Command(bin, append([]string{"-serve", "-listen", "127.0.0.1:0"}, strings.Fields(args)...)...)
	} else {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addr = a
		cmd = exec.Command(bin, strings.Fields(strings.ReplaceAll(args, "{addr}", addr))...)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // then wait; kill if it lingers
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill() // a server that ignores SIGTERM
			<-done
		}
	}()
	if builtin {
		// The built-in server prints its address once it is listening.
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			return nil, errors.New("server did not report its address: " + err.Error())
		}
		addr = strings.TrimSpace(strings.TrimPrefix(line, "listening "))
		go func() { _, _ = io.Copy(io.Discard, out) }()
	} else {
		go func() { _, _ = io.Copy(os.Stderr, out) }()
		if err := waitUDP(addr); err != nil {
			return nil, err
		}
	}
	bargs := append([]string{"-server-pid", strconv.Itoa(cmd.Process.Pid)}, benchArgs...)
	bargs = append(bargs, addr)
	bc := exec.Command(eqbench, bargs...)
	bc.Stderr = os.Stderr
	outB, err := bc.Output()
	lines := strings.Split(strings.TrimSpace(string(outB)), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "sessions=") {
		if err == nil {
			err = errors.New("no summary line")
		}
		os.Stderr.Write(outB)
		return nil, err
	}
	s := parseSummary(last)
	if s["ok"] != "true" {
		os.Stderr.Write(outB) // show the failing run's report
	}
	return s, nil
}

// freeAddr picks a loopback UDP port that is free now.
func freeAddr() (string, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return "", err
	}
	addr := c.LocalAddr().String()
	return addr, c.Close()
}

// waitUDP waits until something is bound to addr (a bind there fails).
func waitUDP(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return err
		}
		c, err := net.ListenUDP("udp", ua)
		if err != nil {
			return nil // taken: the server is up
		}
		_ = c.Close() // not yet: release and look again
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("server did not bind " + addr)
}

// serve is the built-in server: eqgate with an echo handler.
func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	shards := fs.Int("shards", 0, "shards (0: eqgate default)")
	batch := fs.Int("batch", 0, "datagrams per recvmmsg/sendmmsg (0: eqgate default)")
	perIP := fs.Int("max-per-ip", 1<<16, "sessions per source address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := eqgate.DefaultConfig()
	if *shards > 0 {
		cfg.Shards = *shards
	}
	if *batch > 0 {
		cfg.Batch = *batch
	}
	cfg.MaxSessionsPerIP = *perIP
	srv, err := eqgate.Listen(*listen, cfg, echo{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 2
	}
	fmt.Printf("listening %s\n", srv.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = srv.Close() // exiting anyway
	return 0
}

type echo struct{}

func (echo) OnOpen(eqgate.Session)                      {}
func (echo) OnClose(eqgate.Session, eqgate.CloseReason) {}
func (echo) OnMessage(s eqgate.Session, stream int, data []byte) {
	_ = s.Send(max(stream, 0), data, stream >= 0) // a failed echo shows as a loss in eqbench
}
