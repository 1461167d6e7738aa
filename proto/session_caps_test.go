package proto

import (
	"bytes"
	"compress/zlib"
	"testing"
	"time"
	"unsafe"
)

// inject encodes decoded packet x with the session's parameters and hands
// it to the peer, as a hostile but well-keyed sender would.
func (p *peer) inject(t testing.TB, x []byte) {
	t.Helper()
	params := p.s.Params()
	var c Coder
	p.s.Receive(&p.env, p.now, c.AppendEncode(&params, nil, x))
}

func pkt(st int, q Seq, app []byte) []byte { return AppendPacket(nil, st, q, app) }

func TestSessionCapReorderWindow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReorderWindow = 64
	cfg.ReorderBytes = 1 << 20
	_, s := handshake(t, mustCfg(t, cfg), 0)
	// Seqs 1..200 arrive before 0: only 1..63 fit the window.
	for q := 1; q <= 200; q++ {
		s.inject(t, pkt(1, Seq(q), []byte{byte(q), 1}))
	}
	st := s.s.Stats()
	if st.ReorderDrops != 200-63 || st.Drops[ReasonTooBig] != 200-63 || s.s.streams[1].reorderN != 63 {
		t.Fatalf("reorder drops %d, queued %d", st.ReorderDrops, s.s.streams[1].reorderN)
	}
	if len(s.s.streams[1].reorder) > 64 {
		t.Fatalf("reorder ring grew to %d", len(s.s.streams[1].reorder))
	}
	s.inject(t, pkt(1, 0, []byte{0xff, 1}))
	if len(s.h.got) != 64 || s.s.streams[1].in != 64 || s.s.State() != StateConnected {
		t.Fatalf("delivered %d, in %d", len(s.h.got), s.s.streams[1].in)
	}
	for i, d := range s.h.got[1:] {
		if d.app[0] != byte(i+1) {
			t.Fatalf("order broken at %d", i)
		}
	}
	// The dropped ones arrive again (resent) and are delivered in order.
	for q := 64; q <= 200; q++ {
		s.inject(t, pkt(1, Seq(q), []byte{byte(q), 1}))
	}
	if len(s.h.got) != 201 {
		t.Fatalf("delivered %d", len(s.h.got))
	}
}

func TestSessionCapReorderBytes(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ReorderBytes = 4000
	_, s := handshake(t, mustCfg(t, cfg), 0)
	body := bytes.Repeat([]byte{9}, 496) // 500-byte packets
	for q := 1; q <= 20; q++ {
		s.inject(t, pkt(0, Seq(q), body))
	}
	str := &s.s.streams[0]
	if str.reorderBytes > 4000 || str.reorderN != 8 || s.s.Stats().ReorderDrops != 12 {
		t.Fatalf("queued %d packets %d bytes, drops %d", str.reorderN, str.reorderBytes, s.s.Stats().ReorderDrops)
	}
}

func TestSessionCapFragmentTotal(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxFragmentSize = 1 << 20
	_, s := handshake(t, mustCfg(t, cfg), 0)
	chunk := bytes.Repeat([]byte{1}, 500)
	// A set announcing 2 MiB is counted once, followed and discarded.
	s.inject(t, AppendFirstFragment(nil, 0, 0, 2<<20, chunk))
	q := Seq(1)
	for have := 500; have < 2<<20; have += 500 {
		s.inject(t, AppendFragment(nil, 0, q, chunk))
		q++
	}
	st := s.s.Stats()
	if st.FragmentDrops != 1 || len(s.h.got) != 0 || s.s.streams[0].frag != nil || s.s.streams[0].fragActive {
		t.Fatalf("fragment drops %d, delivered %d", st.FragmentDrops, len(s.h.got))
	}
	// A 1 MiB set takes memory as it arrives, not from its header.
	s.inject(t, AppendFirstFragment(nil, 0, q, 1<<20, chunk))
	q++
	if c := cap(s.s.streams[0].frag); c > 4096 {
		t.Fatalf("first fragment of a 1 MiB set reserved %d bytes", c)
	}
	// The stream stays healthy: the next packet is delivered after the set
	// completes.
	for have := 500; have < 1<<20; have += 500 {
		s.inject(t, AppendFragment(nil, 0, q, chunk[:min(500, 1<<20-have)]))
		q++
	}
	s.inject(t, pkt(0, q, []byte{0x42, 0x42}))
	if len(s.h.got) != 2 || len(s.h.got[0].app) != 1<<20 || s.s.State() != StateConnected {
		t.Fatalf("delivered %d", len(s.h.got))
	}
}

func TestSessionCapInflate(t *testing.T) {
	_, s := handshake(t, mustCfg(t, ZoneConfig()), 0)
	// A Packet whose region inflates to 10000 bytes, above the 4096 cap.
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	region := append([]byte{0, 0}, bytes.Repeat([]byte{0x41}, 10000)...)
	w.Write(region)
	w.Close()
	d := append([]byte{0, byte(OpPacket), flagDeflated}, z.Bytes()...)
	params := s.s.Params()
	d = appendCRC(d, CRC(params.Key, d), params.CRCBytes)
	s.s.Receive(&s.env, 0, d)
	if s.s.Stats().Drops[ReasonInflate] != 1 || len(s.h.got) != 0 || s.s.State() != StateConnected {
		t.Fatalf("drops %v", s.s.Stats().Drops)
	}
	s.inject(t, pkt(0, 0, []byte{1, 2}))
	if len(s.h.got) != 1 {
		t.Fatal("session unhealthy after the inflate drop")
	}
}

func TestSessionCapDepth(t *testing.T) {
	_, s := handshake(t, mustCfg(t, DefaultConfig()), 0)
	nest := func(levels int, app []byte) []byte {
		x := app
		for range levels {
			x = AppendCombinedElement(AppendCombinedHeader(nil), x)
		}
		return x
	}
	s.inject(t, nest(3, []byte{0x11, 1}))
	s.inject(t, nest(12, []byte{0x22, 1}))
	if len(s.h.got) != 1 || s.h.got[0].app[0] != 0x11 || s.s.Stats().Drops[ReasonTooDeep] != 1 {
		t.Fatalf("delivered %d, too deep %d", len(s.h.got), s.s.Stats().Drops[ReasonTooDeep])
	}
	// Deep nesting through reliable packets and AppCombined counts too.
	x := []byte{0x33, 1}
	for i := range 10 {
		if i%2 == 0 {
			x = AppendAppCombinedElement(AppendAppCombinedHeader(nil), x)
		} else {
			x = AppendCombinedElement(AppendCombinedHeader(nil), x)
		}
	}
	s.inject(t, pkt(0, 0, x))
	if len(s.h.got) != 1 || s.s.Stats().Drops[ReasonTooDeep] != 2 || s.s.State() != StateConnected {
		t.Fatalf("delivered %d, too deep %d", len(s.h.got), s.s.Stats().Drops[ReasonTooDeep])
	}
}

func TestSessionCapUnacked(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxUnackedBytes = 64 << 10
	c, _ := handshake(t, mustCfg(t, cfg), 0)
	msg := bytes.Repeat([]byte{5}, 1000)
	sent := 0
	for ; sent < 1000; sent++ {
		err := c.s.Send(&c.env, 0, 0, msg, true)
		if err == ErrSendQueueFull {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if sent == 1000 || c.s.Unacked() > 64<<10 || c.s.Stats().SendQueueFull != 1 {
		t.Fatalf("sent %d, unacked %d", sent, c.s.Unacked())
	}
	if err := c.s.Send(&c.env, 0, 0, make([]byte, 70<<10), true); err != ErrPacketTooLarge {
		t.Fatalf("oversized send: %v", err)
	}
	// Acks free the room again.
	c.inject(t, AppendAck(nil, 0, c.s.streams[0].out-1))
	if c.s.Unacked() != 0 || c.s.Send(&c.env, 0, 0, msg, true) != nil {
		t.Fatalf("unacked %d after the ack", c.s.Unacked())
	}
}

// TestSessionBlackHole: a peer that goes silent is closed ResendTimeout
// after the oldest unacked send, at the Tick due then; resends stay within
// the burst caps and the doubling delays.
func TestSessionBlackHole(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	c, _ := handshake(t, cfg, 0)
	first := Nanotime(10 * time.Millisecond)
	c.now = first
	msg := bytes.Repeat([]byte{7}, 500)
	n := 0
	for ; c.s.Send(&c.env, first, n%Streams, msg, true) == nil; n++ {
	}
	c.s.Flush(&c.env, first)
	initial := 0
	for _, d := range c.sink.take() {
		initial += len(d)
	}
	now := first
	var closedAt Nanotime
	maxTick := 0
	for ticks := 0; ticks < 10000 && c.s.State() != StateDisconnected; ticks++ {
		next := c.s.Tick(&c.env, now)
		b := 0
		for _, d := range c.sink.take() {
			b += len(d)
		}
		maxTick = max(maxTick, b)
		if closedAt == 0 && c.s.State() == StateDisconnecting {
			closedAt = now
		}
		if next == Never {
			break
		}
		if next <= now {
			t.Fatalf("Tick asked for %v at %v", next, now)
		}
		now = next
	}
	st := c.s.Stats()
	if len(c.h.closed) != 1 || c.h.closed[0] != CloseResendTimeout {
		t.Fatalf("closed %v", c.h.closed)
	}
	if d := closedAt - first; d < Nanotime(cfg.ResendTimeout) || d > Nanotime(cfg.ResendTimeout+cfg.TickInterval) {
		t.Fatalf("closed %v after the first send", time.Duration(d))
	}
	// Per stream and Tick at most ResendBurstBytes (plus one packet and the
	// Combined framing); over 30 s with delays doubling to 5 s a packet is
	// resent at most about 10 times.
	if maxTick > Streams*(cfg.ResendBurstBytes+2*cfg.MaxPacketSize) {
		t.Fatalf("one tick sent %d bytes", maxTick)
	}
	if st.ResentBytes > uint64(12*n*(len(msg)+SeqHeaderLen)) {
		t.Fatalf("resent %d bytes for %d packets (%d bytes first sent)", st.ResentBytes, n, initial)
	}
	if c.s.State() != StateDisconnected || c.s.Unacked() != 0 {
		t.Fatalf("state %v unacked %d", c.s.State(), c.s.Unacked())
	}
	if held, _ := c.pool.Held(); held == 0 {
		t.Fatal("buffers not returned to the pool")
	}
	t.Logf("%d packets, %d bytes first sent; resent %d packets %d bytes; max per tick %d", n, initial, st.Resends, st.ResentBytes, maxTick)
}

// TestSessionSeqWrap sends 70,000+ messages on one stream with fragment
// sets straddling 65535 -> 0.
func TestSessionSeqWrap(t *testing.T) {
	c, s := handshake(t, mustCfg(t, DefaultConfig()), 0)
	s.h.keepData = false
	var got, bad int
	check := &wrapHandler{next: &got, bad: &bad}
	s.env.Handler = check
	big := bytes.Repeat([]byte{3}, 1200) // 3 fragments
	sent := 0
	straddled := 0
	send := func(m []byte) {
		before := c.s.streams[2].out
		m[0] = byte(sent)
		if err := c.s.Send(&c.env, 0, 2, m, true); err != nil {
			t.Fatal(err)
		}
		if after := c.s.streams[2].out; after < before && after != 0 {
			straddled++
		}
		sent++
	}
	small := []byte{0, 1, 2, 3}
	for sent < 72000 {
		// Keep a fragment set straddling each wrap: 3-fragment sets start
		// at 65534 and 65535 on the first and second wrap.
		if out := c.s.streams[2].out; out == 65534 && straddled == 0 || out == 65535 && straddled == 1 || sent%7 == 0 {
			send(big)
		} else {
			send(small)
		}
		if sent%50 == 0 {
			pump(t, c, s)
		}
	}
	pump(t, c, s)
	if got != sent || bad != 0 || straddled < 1 {
		t.Fatalf("sent %d, delivered %d, bad %d, straddled %d", sent, got, bad, straddled)
	}
	if c.s.Unacked() != 0 || s.s.streams[2].in != c.s.streams[2].out {
		t.Fatalf("unacked %d, in %d out %d", c.s.Unacked(), s.s.streams[2].in, c.s.streams[2].out)
	}
}

type wrapHandler struct{ next, bad *int }

func (h *wrapHandler) Opened(*Session) {}
func (h *wrapHandler) Deliver(s *Session, stream int, app []byte) {
	if stream != 2 || app[0] != byte(*h.next) || (len(app) != 4 && len(app) != 1200) {
		*h.bad++
	}
	*h.next++
}
func (h *wrapHandler) Closed(*Session, CloseReason) {}

// TestSessionIdleFootprint: an idle connected session holds under 1 KiB:
// its struct, with every lazily grown part handed back.
func TestSessionIdleFootprint(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	c, s := handshake(t, cfg, 0)
	s.h.echo = true
	for i := range 300 {
		if err := c.s.Send(&c.env, 0, i%Streams, bytes.Repeat([]byte{1}, 1+i*13), true); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			pump(t, c, s)
		}
	}
	pump(t, c, s)
	now := Nanotime(cfg.IdleRelease) + 1
	for _, p := range []*peer{c, s} {
		p.now = now
		p.s.Tick(&p.env, now)
		size := int(unsafe.Sizeof(p.s))
		lazy := cap(p.s.hb.b)
		for i := range p.s.streams {
			st := &p.s.streams[i]
			lazy += cap(st.sent)*int(unsafe.Sizeof(sentEntry{})) + cap(st.reorder)*24 + cap(st.frag)
		}
		if size+lazy >= 1024 {
			t.Fatalf("idle session holds %d bytes (struct %d, lazy %d)", size+lazy, size, lazy)
		}
		if p.s.State() != StateConnected {
			t.Fatal("not connected")
		}
		t.Logf("idle session: struct %d bytes, lazily held %d", size, lazy)
	}
	// An idle session asks for a Tick only at its keepalive.
	if next := s.s.Next(); next != s.s.lastSend+Nanotime(cfg.KeepAliveDelay)+1 {
		t.Fatalf("idle next tick %v", time.Duration(next-now))
	}
}
