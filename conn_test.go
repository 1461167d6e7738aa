package eqgate

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// waitBound bounds waits for network events (not a synchronisation).
const waitBound = 10 * time.Second

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitBound):
		t.Fatalf("%s: not within %v", what, waitBound)
	}
}

// serverAndClient starts a Server with scfg and h and a Client on
// 127.0.0.1 with ccfg, both closed at the end of the test.
func serverAndClient(t *testing.T, scfg Config, h Handler, ccfg Config) (*Server, *Client) {
	t.Helper()
	srv, err := Listen("127.0.0.1:0", scfg, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cl, err := NewClient("127.0.0.1", ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return srv, cl
}

// silentAddr is a UDP port that never answers.
func silentAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// TestDialContext: a dial whose context ends gives up with the context's
// error and leaves no socket; one that connects has a live Conn whose Done
// and Err report the session's end, and a failed dial's Err is a DialError.
func TestDialContext(t *testing.T) {
	defer checkLeaks(t)()
	cl, err := NewClient("127.0.0.1", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cl.DialContext(ctx, silentAddr(t), &collector{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("DialContext with a cancelled context: %v", err)
	}
	if n := cl.Sockets(); n != 0 {
		t.Errorf("%d sockets after a cancelled dial", n)
	}
	if _, err := DialContext(ctx, silentAddr(t), Config{}, &collector{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("package DialContext with a cancelled context: %v", err)
	}

	srv, err := Listen("127.0.0.1:0", Config{Shards: 1}, &echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	col := &collector{want: 1, done: make(chan struct{})}
	c, err := cl.DialContext(context.Background(), srv.Addr().String(), col)
	if err != nil {
		t.Fatal(err)
	}
	// The server holds the session once the client's first datagram has
	// proved the key (stateless handshake): an echo says it has.
	if err := c.Send(0, []byte{1, 2, 3}, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, col.done, "the first echo")
	if c.Err() != nil {
		t.Fatalf("Err of an open Conn: %v", c.Err())
	}
	// The session's own view of its peer is the server (not an internal
	// name for its socket), and its socket is the Conn's.
	peer := make(chan netip.AddrPort, 1)
	if err := c.Post(func() { peer <- c.Session().RemoteAddr() }); err != nil {
		t.Fatal(err)
	}
	if got := <-peer; got != srv.Addr() || c.LocalAddr().Port() == 0 || c.RemoteAddr() != srv.Addr() {
		t.Errorf("Session.RemoteAddr %v, Conn.RemoteAddr %v, want %v; LocalAddr %v", got, c.RemoteAddr(), srv.Addr(), c.LocalAddr())
	}
	select {
	case <-c.Done():
		t.Fatal("Done closed while the session is open")
	default:
	}
	_ = srv.Close() // the server disconnects every session
	waitFor(t, c.Done(), "Done after the server closed")
	var ee *EndError
	if err := c.Err(); !errors.As(err, &ee) || !errors.Is(err, ErrSessionEnded) || ee.Reason != ClosePeer {
		t.Errorf("Err after the server closed: %v, want an EndError with ClosePeer", err)
	}
	if n := cl.Sockets(); n != 0 {
		t.Errorf("%d sockets after the session ended", n)
	}

	// A failed dial: Done is closed too, and Err is the DialError.
	fast, err := NewClient("127.0.0.1", Config{ConnectStale: 200 * time.Millisecond, ConnectDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	d, err := fast.StartDial(fast.local, silentAddr(t), &collector{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, d.Done(), "Done after a failed dial")
	var de *DialError
	if err := d.Err(); !errors.As(err, &de) || de.Reason != CloseConnectTimeout {
		t.Errorf("Err after a failed dial: %v", err)
	}
}

// panicker panics in OnMessage for messages starting with "boom" and echoes
// the rest; it records close reasons.
type panicker struct {
	mu     sync.Mutex
	closed map[CloseReason]int
	gone   chan struct{} // closed at the first handler_panic close
}

func (p *panicker) OnOpen(Session) {}
func (p *panicker) OnMessage(s Session, stream int, data []byte) {
	if strings.HasPrefix(string(data), "boom") {
		panic("handler bug")
	}
	_ = s.Send(stream, data, true)
}
func (p *panicker) OnClose(s Session, r CloseReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed[r]++
	if r == ClosePanic && p.closed[r] == 1 {
		close(p.gone)
	}
}

// TestHandlerPanicClose: with PanicClose a panicking callback closes only
// its session, with ClosePanic, and is counted; the shard goes on serving
// the others.
func TestHandlerPanicClose(t *testing.T) {
	t.Cleanup(checkLeaks(t)) // after the Cleanups below
	h := &panicker{closed: map[CloseReason]int{}, gone: make(chan struct{})}
	srv, cl := serverAndClient(t, Config{Shards: 1, HandlerPanic: PanicClose}, h, Config{})
	bad, err := cl.Dial(srv.Addr().String(), &collector{})
	if err != nil {
		t.Fatal(err)
	}
	good := &collector{want: 1, done: make(chan struct{})}
	ok, err := cl.Dial(srv.Addr().String(), good)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Send(0, []byte("boom"), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, h.gone, "the panicking session's close")
	waitFor(t, bad.Done(), "the client seeing the close")
	if err := ok.Send(1, []byte("still served"), true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, good.done, "an echo on the other session")
	st := srv.Stats()
	if st.Total.HandlerPanics != 1 || st.Total.SessionsClosed["handler_panic"] != 1 {
		t.Errorf("panics %d, closed by handler_panic %d; want 1 and 1", st.Total.HandlerPanics, st.Total.SessionsClosed["handler_panic"])
	}
	var ee *EndError
	if err := bad.Err(); !errors.As(err, &ee) || ee.Reason != ClosePeer {
		t.Errorf("client side of the panicked session: %v, want ended by the peer", err)
	}
}

// TestCollectorsShareRegistry: two Servers and a Client register their
// collectors in one registry, each series labelled with its engine, and
// the build info once.
func TestCollectorsShareRegistry(t *testing.T) {
	defer checkLeaks(t)()
	var srvs []*Server
	for range 2 {
		s, err := Listen("127.0.0.1:0", Config{Shards: 1}, &echoHandler{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		srvs = append(srvs, s)
	}
	cl, err := NewClient("", Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{srvs[0].Collector(), srvs[1].Collector(), cl.Collector(), BuildInfoCollector()} {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	engines := map[string]bool{}
	builds := 0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "eqgate_sessions_open":
			for _, m := range mf.GetMetric() {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == "listen" {
						engines[lp.GetName()+"="+lp.GetValue()] = true
					}
				}
			}
		case "eqgate_build_info":
			for _, m := range mf.GetMetric() {
				builds++
				labels := map[string]string{}
				for _, lp := range m.GetLabel() {
					labels[lp.GetName()] = lp.GetValue()
				}
				if labels["version"] != Version() || !strings.HasPrefix(labels["goversion"], "go") || m.GetGauge().GetValue() != 1 {
					t.Errorf("build info %v = %v", labels, m.GetGauge().GetValue())
				}
			}
		}
	}
	want := []string{"listen=" + srvs[0].Addr().String(), "listen=" + srvs[1].Addr().String(), "listen=client:" + cl.label}
	for _, w := range want {
		if !engines[w] {
			t.Errorf("no series for %s (have %v)", w, engines)
		}
	}
	if builds != 1 {
		t.Errorf("%d build info series, want 1", builds)
	}
}

var pingPongs atomic.Int64

// pinger keeps one message in flight from inside its callbacks: every echo
// is answered at once, on the shard goroutine, with no other goroutine
// involved.
type pinger struct {
	msg  []byte
	tick chan struct{}
}

func (p *pinger) OnOpen(s Session) { _ = s.Send(0, p.msg, true) }
func (p *pinger) OnMessage(s Session, stream int, data []byte) {
	pingPongs.Add(1)
	_ = s.Send(0, p.msg, true)
	select {
	case p.tick <- struct{}{}:
	default:
	}
}
func (p *pinger) OnClose(Session, CloseReason) {}

// TestClientDatagramPathNoAllocs: a Client session and a Server echoing to
// each other from inside their callbacks, over loopback, allocate nothing
// per round trip: the client's receive, delivery, send and write path (and
// the server's) are allocation-free.
func TestClientDatagramPathNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	t.Cleanup(checkLeaks(t)) // after the Cleanups below
	srv, cl := serverAndClient(t, Config{Shards: 1}, &echoHandler{}, Config{})
	p := &pinger{msg: make([]byte, 64), tick: make(chan struct{})}
	c, err := cl.Dial(srv.Addr().String(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 200 { // warm up pools, hold buffers, the netpoller's timers
		<-p.tick
	}
	if a := testing.AllocsPerRun(500, func() { <-p.tick }); a > 0 {
		t.Errorf("%.2f allocations per client/server round trip, want 0", a)
	}
}
