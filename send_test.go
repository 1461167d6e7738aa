package eqgate

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"
)

// Small caps, so that bursts cross the window and the queue quickly.
var sendCaps = Config{MaxUnackedBytes: 16 << 10, MaxUnackedPackets: 32, MaxQueuedBytes: 24 << 10}

// inbox records what one side received, per stream, and says when a
// wanted total has arrived.
type inbox struct {
	mu    sync.Mutex
	got   [4][][]byte
	total int
	want  int
	done  chan struct{}
	sess  Session
	ready chan struct{}
	// burst, when set, runs inside OnMessage for a 5-byte control message
	// ('B', stream, count as u16, size class); it reports what it did on
	// bursts.
	burst  func(s Session, stream, count, size int) burstResult
	bursts chan burstResult
}

// burstResult is what one burst returned and what it got accepted. It
// travels by channel: the race detector does not see the order the
// sockets impose between rounds.
type burstResult struct {
	errs []error
	sent [][]byte
}

func newInbox() *inbox {
	return &inbox{ready: make(chan struct{}), bursts: make(chan burstResult, 1)}
}

// expect arms a wait for the total number of messages received so far to
// reach n.
func (b *inbox) expect(n int) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.want = n
	b.done = make(chan struct{})
	if b.total >= n {
		close(b.done)
	}
	return b.done
}

func (b *inbox) OnOpen(s Session) {
	b.sess = s
	close(b.ready)
}

func (b *inbox) OnMessage(s Session, stream int, data []byte) {
	if b.burst != nil && len(data) == 5 && data[0] == 'B' {
		b.bursts <- b.burst(s, int(data[1]), int(binary.BigEndian.Uint16(data[2:])), burstSizes(s)[data[4]])
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got[stream] = append(b.got[stream], append([]byte(nil), data...))
	b.total++
	if b.done != nil && b.total == b.want {
		close(b.done)
	}
}

func (b *inbox) OnClose(Session, CloseReason) {}

// take returns and forgets what arrived on stream st.
func (b *inbox) take(st int) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.got[st]
	b.got[st] = nil
	return g
}

// burstSizes are the message sizes the tests burst: small, one packet,
// fragmented, the largest the session carries, and one byte more.
func burstSizes(s Session) []int {
	m := s.MaxSend()
	return []int{1, 200, 1000, 5000, m, m + 1}
}

// burstCounts are burst lengths from 1 to past what window and queue
// hold for size.
func burstCounts(size int) []int {
	past := (sendCaps.MaxUnackedBytes+sendCaps.MaxQueuedBytes)/(size+64) + 8
	past = max(past, sendCaps.MaxUnackedPackets+8)
	var c []int
	for n := 1; n < past; n = n*2 + 1 {
		c = append(c, n)
	}
	return append(c, past)
}

// checkBurst checks one burst's outcome: every error is a refusal the
// caps explain (the inbox's too, for sends from other goroutines), and
// the accepted messages (sent) arrived, in order, intact.
func checkBurst(t *testing.T, errs []error, sent [][]byte, got [][]byte, tooBig bool) {
	t.Helper()
	for k, err := range errs {
		switch {
		case err == nil:
		case tooBig && errors.Is(err, ErrTooBig):
		case !tooBig && (errors.Is(err, ErrSendQueueFull) || errors.Is(err, ErrInboxFull)):
		default:
			t.Fatalf("send %d of %d: %v", k, len(errs), err)
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("%d accepted, %d arrived", len(sent), len(got))
	}
	for k := range got {
		if !bytes.Equal(got[k], sent[k]) {
			t.Fatalf("message %d of %d differs (len %d, want %d)", k, len(sent), len(got[k]), len(sent[k]))
		}
	}
}

func waitArrival(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // a bound, not a synchronisation
		t.Fatal("accepted messages did not all arrive")
	}
}

func burstPayload(round, st, k, size int) []byte { return payload(round, st, k, size) }

// sendPair starts a server with handler srvIn and dials it with handler
// cl, both with sendCaps; cleanup closes both.
func sendPair(t *testing.T, srvIn, cl *inbox) (*Server, *Conn) {
	t.Helper()
	srv, err := Listen("127.0.0.1:0", sendCaps, srvIn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	conn, err := Dial(srv.Addr().String(), sendCaps, cl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return srv, conn
}

// From inside a callback: the server bursts on the session from
// OnMessage, where no ack can arrive meanwhile, so each burst fills the
// window, then the queue, then is refused; every accepted message arrives.
func TestSendBurstInCallback(t *testing.T) {
	t.Cleanup(checkLeaks(t)) // after sendPair's cleanups
	srvIn := newInbox()
	srvIn.burst = func(s Session, st, count, size int) burstResult {
		r := burstResult{errs: make([]error, count)}
		for k := range count {
			p := burstPayload(0, st, k, size)
			if r.errs[k] = s.Send(st, p, true); r.errs[k] == nil {
				r.sent = append(r.sent, p)
			}
		}
		return r
	}
	cl := newInbox()
	srv, conn := sendPair(t, srvIn, cl)
	<-srvIn.ready
	refused, accepted := 0, 0
	for class := range burstSizes(srvIn.sess) {
		size := burstSizes(srvIn.sess)[class]
		for _, count := range burstCounts(size) {
			st := count % 4
			// The burst's own accepted count is known only after it ran:
			// arm the wait for "all of them" once it reports.
			ctl := []byte{'B', byte(st), 0, 0, byte(class)}
			binary.BigEndian.PutUint16(ctl[2:], uint16(count))
			if err := conn.SendContext(context.Background(), 0, ctl, true); err != nil {
				t.Fatal(err)
			}
			r := <-srvIn.bursts
			accepted += len(r.sent)
			waitArrival(t, cl.expect(accepted))
			checkBurst(t, r.errs, r.sent, cl.take(st), class == len(burstSizes(srvIn.sess))-1)
			refused += len(r.errs) - len(r.sent)
		}
	}
	_ = conn.Close()
	checkSendCounts(t, srv.Stats().Total, refused)
}

// From other goroutines: four goroutines burst on the dialled session, one
// stream each, with Conn.Send; refusals come back at once, accepted
// messages all arrive in order. The server's counters see exactly what was
// accepted.
func TestSendBurstOtherGoroutines(t *testing.T) {
	t.Cleanup(checkLeaks(t)) // after sendPair's cleanups
	srvIn := newInbox()
	_, conn := sendPair(t, srvIn, newInbox())
	sess := conn.Session()
	refused, accepted := 0, 0
	for class, size := range burstSizes(sess) {
		tooBig := class == len(burstSizes(sess))-1
		for round, count := range burstCounts(size) {
			var sent [4][][]byte
			var errs [4][]error
			var wg sync.WaitGroup
			for st := range 4 {
				wg.Go(func() {
					for k := range count {
						p := burstPayload(round, st, k, size)
						err := conn.Send(st, p, true)
						if err == nil {
							sent[st] = append(sent[st], p)
						}
						errs[st] = append(errs[st], err)
					}
				})
			}
			wg.Wait()
			for st := range 4 {
				accepted += len(sent[st])
				refused += count - len(sent[st])
			}
			waitArrival(t, srvIn.expect(accepted))
			for st := range 4 {
				checkBurst(t, errs[st], sent[st], srvIn.take(st), tooBig)
			}
		}
	}
	checkSendCounts(t, conn.Stats().Total, refused)
}

// checkSendCounts checks that the refusals counted are the refusals
// returned, that some sends waited in the queue and none was discarded.
func checkSendCounts(t *testing.T, st ShardStats, refused int) {
	t.Helper()
	if refused == 0 {
		t.Fatal("no burst went past the caps")
	}
	if n := st.SendsRefused["queue_full"] + st.SendsRefused["too_big"] + st.SendsRefused["inbox_full"]; n != uint64(refused) {
		t.Errorf("refusals counted %d, returned %d (%v)", n, refused, st.SendsRefused)
	}
	if st.SendsQueued == 0 || st.SendsDiscarded != 0 {
		t.Errorf("queued %d (want some), discarded %d (want 0)", st.SendsQueued, st.SendsDiscarded)
	}
}

// SendContext waits out a full queue: a burst far past the caps is all
// accepted and all arrives; SendRoom reports the queue's free bytes.
func TestSendContextWaits(t *testing.T) {
	t.Cleanup(checkLeaks(t)) // after sendPair's cleanups
	srvIn := newInbox()
	_, conn := sendPair(t, srvIn, newInbox())
	if r := conn.SendRoom(); r != sendCaps.MaxQueuedBytes-64 && r != conn.Session().MaxSend() {
		t.Fatalf("SendRoom %d on an idle session", r)
	}
	const count, size = 300, 1000 // 300 KB through 40 KB of window and queue
	done := srvIn.expect(count)
	var sent [][]byte
	for k := range count {
		p := burstPayload(0, 1, k, size)
		if err := conn.SendContext(context.Background(), 1, p, true); err != nil {
			t.Fatalf("send %d: %v", k, err)
		}
		sent = append(sent, p)
	}
	waitArrival(t, done)
	checkBurst(t, nil, sent, srvIn.take(1), false)

	// A context that is done turns a full queue into its error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var last error
	for range 1000 {
		if last = conn.SendContext(ctx, 2, burstPayload(1, 2, 0, size), true); last != nil {
			break
		}
	}
	if !errors.Is(last, ErrSendQueueFull) || !errors.Is(last, context.Canceled) {
		t.Fatalf("SendContext with a cancelled context on a full queue: %v", last)
	}
	_ = conn.Close()
	if err := conn.Send(0, []byte{1}, true); !errors.Is(err, ErrNoSession) && !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
}
