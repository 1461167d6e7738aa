package eqgate

import (
	"runtime"
	"testing"
	"time"
)

// gotOne signals each message a dialled session receives.
type gotOne chan struct{}

func (gotOne) OnOpen(Session)                   {}
func (g gotOne) OnMessage(Session, int, []byte) { g <- struct{}{} }
func (gotOne) OnClose(Session, CloseReason)     {}

// TestClientWakeups: a Client's shards sleep on their dialled sessions'
// sockets (a batchio.Set with members) while they wait for the server, and
// eqgate_wakeups_total counts those sleeps as it does a server's.
func TestClientWakeups(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sleeps are counted on Linux only")
	}
	defer checkLeaks(t)()
	srv, err := Listen("127.0.0.1:0", Config{Shards: 1}, &echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cl, err := NewClient("", Config{Shards: 1, ConnectStale: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := make(gotOne, 4)
	c, err := cl.Dial(srv.Addr().String(), got)
	if err != nil {
		t.Fatal(err)
	}
	// Each round trip leaves the client's shard nothing to do until the
	// echo comes back: it parks on its epoll descriptor. On a loaded box
	// (-race, a parallel package) the echo can be in before the shard gets
	// there, so it keeps going until a sleep is counted, within a bound.
	wakeups := func() (n float64) {
		for _, s := range gather(t, cl.Collector())["eqgate_wakeups_total"] {
			n += s.value
		}
		return n
	}
	for i := 0; wakeups() == 0; i++ {
		if i == 1000 {
			t.Fatal("eqgate_wakeups_total is 0 after 1,000 round trips of a client whose shard waited for every echo")
		}
		if err := c.Send(0, []byte("ping"), true); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("no echo")
		}
	}
}
