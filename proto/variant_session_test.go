package proto

import (
	"bytes"
	"testing"
	"time"
)

// Behaviour of the LEGACY and EQ2 session rules, one rule per test, in
// virtual time.

const msec = Nanotime(time.Millisecond)

// variantServer is an opened server session of cfg (code 7).
func variantServer(t *testing.T, cfg Config) *peer {
	t.Helper()
	p := newPeer()
	if err := p.s.InitServer(mustCfg(t, cfg), 0, 0); err != nil {
		t.Fatal(err)
	}
	p.s.Receive(&p.env, 0, SessionRequest{ConnectCode: 7, MaxPacketSize: 512}.AppendTo(nil))
	p.s.Flush(&p.env, 0)
	p.sink.take()
	return p
}

// decodeAll decodes what p sent with its own parameters.
func decodeAll(t *testing.T, p *peer, ds [][]byte) [][]byte {
	t.Helper()
	var c Coder
	var out [][]byte
	pp := p.s.Params()
	for _, d := range ds {
		x, err := c.Decode(&pp, bytes.Clone(d))
		if err != nil {
			t.Fatalf("our datagram %x: %v", d, err)
		}
		if len(x) >= 2 && x[0] == 0 && Opcode(x[1]) == OpCombined {
			it := NewCombinedIter(x)
			for e, ok := it.Next(); ok; e, ok = it.Next() {
				out = append(out, bytes.Clone(e))
			}
			continue
		}
		out = append(out, bytes.Clone(x))
	}
	return out
}

func TestVariantDeferredAck(t *testing.T) {
	p := variantServer(t, ConfigFor(VariantLegacy))
	params := p.s.Params()
	for q := range Seq(5) {
		p.s.Receive(&p.env, msec, p.env.Coder.AppendEncode(&params, nil, AppendPacket(nil, 0, q, []byte{0x42, 0x02, byte(q)})))
	}
	p.s.Flush(&p.env, msec)
	if d := p.sink.take(); len(d) != 0 {
		t.Fatalf("acked before the writer tick: %x", d)
	}
	if next := p.s.Next(); next != msec+10*msec {
		t.Fatalf("next tick %v, want the 10 ms writer tick", next)
	}
	p.s.Tick(&p.env, 11*msec)
	got := decodeAll(t, p, p.sink.take())
	if len(got) != 1 || !bytes.Equal(got[0], AppendAck(nil, 0, 4)) {
		t.Fatalf("writer sent %x, want one Ack(4)", got)
	}
	// A past packet gets OutOfOrderAck(q), not Ack(in-1).
	p.s.Receive(&p.env, 12*msec, p.env.Coder.AppendEncode(&params, nil, AppendPacket(nil, 0, 2, []byte{1, 2})))
	p.s.Flush(&p.env, 12*msec)
	if got := decodeAll(t, p, p.sink.take()); len(got) != 1 || !bytes.Equal(got[0], AppendOutOfOrderAck(nil, 0, 2)) {
		t.Fatalf("duplicate answered with %x", got)
	}
	// A future packet is queued silently by a server.
	p.s.Receive(&p.env, 13*msec, p.env.Coder.AppendEncode(&params, nil, AppendPacket(nil, 0, 9, []byte{1, 2})))
	p.s.Tick(&p.env, 100*msec)
	if d := p.sink.take(); len(d) != 0 || p.s.Stats().OutOfOrder != 1 {
		t.Fatalf("future packet answered: %x", d)
	}
}

// TestVariantClientAckDefect: eqgate's client adds OutOfOrderAck(q) to an
// Ack(q) that equals the server's oldest unacked sequence (SPEC §21.2 (b)).
func TestVariantClientAckDefect(t *testing.T) {
	p := newPeer()
	c := mustCfg(t, ConfigFor(VariantEQ2))
	p.s.InitClient(c, 7, 0)
	p.s.SetEQ2Key(0)
	p.s.Tick(&p.env, 0)
	p.s.Receive(&p.env, 0, SessionResponse{ConnectCode: 7, Key: EQ2Key, CRCBytes: 2, MaxPacketSize: 512}.AppendLegacyTo(nil))
	p.s.Flush(&p.env, 0)
	p.sink.take()
	params := p.s.Params()
	send := func(q Seq, at Nanotime, payload []byte) [][]byte {
		p.s.Receive(&p.env, at, p.env.Coder.AppendEncode(&params, nil, AppendPacket(nil, 0, q, payload)))
		p.s.Tick(&p.env, at+20*msec)
		return decodeAll(t, p, p.sink.take())
	}
	// seq 0 is the key request; the server's oldest unacked is 0.
	got := send(0, msec, AppendEQ2KeyRequest(nil))
	var acks [][]byte
	for _, e := range got {
		if Opcode(e[1]) == OpAck || Opcode(e[1]) == OpOutOfOrderAck {
			acks = append(acks, e)
		}
	}
	if len(acks) != 2 || !bytes.Equal(acks[0], AppendAck(nil, 0, 0)) || !bytes.Equal(acks[1], AppendOutOfOrderAck(nil, 0, 0)) {
		t.Fatalf("acks %x, want Ack(0) and OutOfOrderAck(0)", acks)
	}
	// Two more: Ack(2) advances the server past 0, so no OutOfOrderAck.
	p.s.Receive(&p.env, 50*msec, p.env.Coder.AppendEncode(&params, nil, AppendPacket(nil, 0, 1, []byte{0, 0, 1})))
	got = send(2, 50*msec, []byte{0, 0, 1})
	acks = acks[:0]
	for _, e := range got {
		if Opcode(e[1]) == OpAck || Opcode(e[1]) == OpOutOfOrderAck {
			acks = append(acks, e)
		}
	}
	if len(acks) != 1 || !bytes.Equal(acks[0], AppendAck(nil, 0, 2)) {
		t.Fatalf("acks %x, want Ack(2) alone", acks)
	}
}

func TestVariantKeepAliveEcho(t *testing.T) {
	p := variantServer(t, ConfigFor(VariantEQ2))
	p.s.Receive(&p.env, msec, []byte{0, 6, 0x45, 0x85})
	if d := p.sink.take(); len(d) != 1 || !bytes.Equal(d[0], []byte{0, 6, 0x45, 0x85}) {
		t.Fatalf("server echoed %x, want 00 06 45 85", d)
	}
	// The server sends none of its own, however long it is idle.
	p.s.Tick(&p.env, Nanotime(30*time.Second))
	if d := p.sink.take(); len(d) != 0 {
		t.Fatalf("idle server sent %x", d)
	}
	c := newPeer()
	c.s.InitClient(mustCfg(t, ConfigFor(VariantEQ2)), 7, 0)
	c.s.Tick(&c.env, 0)
	c.s.Receive(&c.env, 0, SessionResponse{ConnectCode: 7, Key: EQ2Key, CRCBytes: 2, MaxPacketSize: 512}.AppendLegacyTo(nil))
	c.s.Flush(&c.env, 0)
	c.sink.take()
	c.s.Receive(&c.env, msec, []byte{0, 6, 0x45, 0x85})
	if d := c.sink.take(); len(d) != 0 {
		t.Fatalf("client echoed a keepalive: %x", d)
	}
	c.s.Tick(&c.env, Nanotime(10*time.Second))
	if d := c.sink.take(); len(d) != 1 || !bytes.Equal(d[0], []byte{0, 6, 0x45, 0x85}) {
		t.Fatalf("idle client sent %x, want a keepalive", d)
	}
}

func TestVariantLenientCRC(t *testing.T) {
	for _, tc := range []struct {
		name     string
		variant  Variant
		d        []byte
		accepted bool
	}{
		{"eq2_zero_trailer", VariantEQ2, []byte{0, 0x15, 0, 0, 0, 0}, true},
		{"eq2_seq_0019", VariantEQ2, []byte{0, 0x15, 0, 0x19, 0xbe, 0xef}, true},
		{"eq2_bad", VariantEQ2, []byte{0, 0x15, 0, 1, 0xbe, 0xef}, false},
		{"legacy_zero_trailer", VariantLegacy, []byte{0, 0x15, 0xa5, 0, 0, 0, 0}, true},
		{"legacy_seq_0019", VariantLegacy, []byte{0, 0x15, 0, 0x19, 0xbe, 0xef}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := variantServer(t, ConfigFor(tc.variant))
			p.s.Receive(&p.env, msec, tc.d)
			st := p.s.Stats()
			if got := st.LenientCRC == 1; got != tc.accepted || (st.Drops[ReasonBadCRC] == 1) == tc.accepted {
				t.Fatalf("lenient %d, bad crc %d", st.LenientCRC, st.Drops[ReasonBadCRC])
			}
		})
	}
	// Off when the options are off.
	c := ConfigFor(VariantEQ2)
	c.LenientZeroCRC, c.Lenient0019 = false, false
	p := variantServer(t, c)
	p.s.Receive(&p.env, msec, []byte{0, 0x15, 0, 0, 0, 0})
	if p.s.Stats().LenientCRC != 0 || p.s.Stats().Drops[ReasonBadCRC] != 1 {
		t.Fatal("leniency applied with the options off")
	}
}

// TestVariantByteBudget: a LEGACY server writes sequenced data while its
// byte budget allows (4194 bytes before a SessionStatRequest), the rest
// waits and leaves as the budget decays by 314 bytes per 20 ms (SPEC §21.2).
func TestVariantByteBudget(t *testing.T) {
	c := ConfigFor(VariantLegacy)
	c.EncodePasses = [2]Pass{}
	p := variantServer(t, c)
	msg := bytes.Repeat([]byte{0x42}, 500)
	for range 20 {
		if err := p.s.Send(&p.env, msec, 0, msg, true); err != nil {
			t.Fatal(err)
		}
	}
	p.s.Flush(&p.env, msec)
	if n := len(p.sink.take()); n != 9 { // 9 × 504 bytes pass the 4194 budget
		t.Fatalf("%d packets sent at once, want 9", n)
	}
	p.s.Tick(&p.env, 21*msec)
	if n := len(p.sink.take()); n != 0 {
		t.Fatalf("%d sent after one decay, want 0 (still over)", n)
	}
	// After the client's stat request (average_delta 10) the budget is
	// 104857 bytes: everything leaves.
	req := SessionStatRequest{Timestamp: 1, StatPing: 10, AvgPing: 10, LastPing: 10}
	params := p.s.Params()
	p.s.Receive(&p.env, 30*msec, p.env.Coder.AppendEncode(&params, nil, req.AppendTo(nil)))
	p.s.Tick(&p.env, 41*msec)
	got := decodeAll(t, p, p.sink.take())
	data := 0
	for _, e := range got {
		if Opcode(e[1]) == OpPacket {
			data++
		}
	}
	if data != 11 {
		t.Fatalf("%d packets after the stat request, want the 11 waiting", data)
	}
	if p.s.vs.rto != 3*max(10+10, 2*10)+300 {
		t.Fatalf("retransmit timeout %d ms, want 360", p.s.vs.rto)
	}
}

// TestVariantOOAResendBudget: resends an OutOfOrderAck triggers are charged
// to the byte budget (SPEC §21.2): with the budget spent they wait for its
// decay instead of leaving at once, and leave before the retransmit timeout.
func TestVariantOOAResendBudget(t *testing.T) {
	c := ConfigFor(VariantLegacy)
	c.EncodePasses = [2]Pass{}
	p := variantServer(t, c)
	params := p.s.Params()
	req := SessionStatRequest{Timestamp: 1, StatPing: 10, AvgPing: 10, LastPing: 10}
	p.s.Receive(&p.env, msec, p.env.Coder.AppendEncode(&params, nil, req.AppendTo(nil)))
	msg := bytes.Repeat([]byte{0x42}, 500)
	send := func(now Nanotime, n int) {
		for range n {
			if err := p.s.Send(&p.env, now, 0, msg, true); err != nil {
				t.Fatal(err)
			}
		}
		p.s.Flush(&p.env, now)
	}
	send(msec, 3)
	p.sink.take()
	// 200 ms later the budget (104857 bytes, average_delta 10) has decayed
	// to nothing; 110 KB of new sends spend it all.
	send(200*msec, 220)
	p.sink.take()
	if p.s.vs.waiting == 0 {
		t.Fatal("the budget held nothing back")
	}
	// OutOfOrderAck(2): packets 0 and 1 were sent 199 ms ago, over the
	// 2·10+100 ms age, so they are due, but the budget is spent.
	p.s.Receive(&p.env, 200*msec, p.env.Coder.AppendEncode(&params, nil, AppendOutOfOrderAck(nil, 0, 2)))
	p.s.Flush(&p.env, 200*msec)
	if n := p.s.Stats().Resends; n != 0 {
		t.Fatalf("%d resends with the budget spent", n)
	}
	p.sink.take()
	// One decay (7864 bytes) later they leave, first, before the 360 ms
	// retransmit timeout would have sent them.
	p.s.Tick(&p.env, 221*msec)
	var seqs []Seq
	for _, e := range decodeAll(t, p, p.sink.take()) {
		if Opcode(e[1]) == OpPacket {
			seqs = append(seqs, Seq(e[2])<<8|Seq(e[3]))
		}
	}
	if p.s.Stats().Resends != 2 || len(seqs) < 2 || seqs[0] != 0 || seqs[1] != 1 {
		t.Fatalf("after the decay: resends %d, packets %v", p.s.Stats().Resends, seqs)
	}
}

// TestVariantCloseDrains: a LEGACY Close waits for the unacked data, then
// disconnects (SPEC §21.5).
func TestVariantCloseDrains(t *testing.T) {
	p := variantServer(t, ConfigFor(VariantLegacy))
	p.s.Send(&p.env, msec, 0, []byte{0x42, 0x02, 1}, true)
	p.s.Flush(&p.env, msec)
	p.sink.take()
	p.s.Close(&p.env, 2*msec)
	if p.s.State() != StateConnected || len(p.sink.take()) != 0 || len(p.h.closed) != 0 {
		t.Fatal("closed with data unacked")
	}
	if err := p.s.Send(&p.env, 2*msec, 0, []byte{1, 2}, true); err != ErrClosing {
		t.Fatalf("Send while draining: %v", err)
	}
	params := p.s.Params()
	p.s.Receive(&p.env, 3*msec, p.env.Coder.AppendEncode(&params, nil, AppendAck(nil, 0, 0)))
	got := decodeAll(t, p, p.sink.take())
	if p.s.State() != StateDisconnecting || len(got) != 1 || Opcode(got[0][1]) != OpSessionDisconnect {
		t.Fatalf("after the ack: state %v sent %x", p.s.State(), got)
	}
}

// TestVariantRequestAgain: a LEGACY SessionRequest with a new code
// restarts a session that carried no data, and closes one that did.
func TestVariantRequestAgain(t *testing.T) {
	p := variantServer(t, ConfigFor(VariantLegacy))
	p.s.Send(&p.env, msec, 0, []byte{0x42, 0x02}, true)
	p.s.Receive(&p.env, 2*msec, SessionRequest{ConnectCode: 8, MaxPacketSize: 512}.AppendTo(nil))
	p.s.Flush(&p.env, 2*msec)
	if p.s.ConnectCode() != 8 || p.s.Unacked() != 0 || p.s.streams[0].out != 0 || p.s.State() != StateConnected {
		t.Fatalf("not restarted: code %d unacked %d", p.s.ConnectCode(), p.s.Unacked())
	}
	params := p.s.Params()
	p.s.Receive(&p.env, 3*msec, p.env.Coder.AppendEncode(&params, nil, AppendPacket(nil, 0, 0, []byte{0x42, 0x02})))
	p.s.Receive(&p.env, 4*msec, SessionRequest{ConnectCode: 9, MaxPacketSize: 512}.AppendTo(nil))
	if p.s.State() == StateConnected || len(p.h.closed) != 1 || p.h.closed[0] != CloseProtocol {
		t.Fatalf("identified stream not closed: %v %v", p.s.State(), p.h.closed)
	}
}

// TestVariantEQ2BadStream: a broken deflate stream closes an EQ2 client.
func TestVariantEQ2BadStream(t *testing.T) {
	p := newPeer()
	p.s.InitClient(mustCfg(t, ConfigFor(VariantEQ2)), 7, 0)
	p.s.SetEQ2Key(0) // RC4 off: the bytes below reach the inflater as they are
	p.s.Tick(&p.env, 0)
	p.s.Receive(&p.env, 0, SessionResponse{ConnectCode: 7, Key: EQ2Key, CRCBytes: 2, MaxPacketSize: 512}.AppendLegacyTo(nil))
	params := p.s.Params()
	p.s.Receive(&p.env, msec, p.env.Coder.AppendEncode(&params, nil, AppendPacket(nil, 0, 0, AppendEQ2KeyRequest(nil))))
	p.s.Receive(&p.env, 2*msec, p.env.Coder.AppendEncode(&params, nil, AppendPacket(nil, 0, 1, []byte{1, 0x58, 0xc3, 0xff, 0xff, 0xff, 0xff})))
	if p.s.State() == StateConnected || len(p.h.closed) != 1 || p.h.closed[0] != CloseProtocol {
		t.Fatalf("state %v closed %v after a bad deflate stream", p.s.State(), p.h.closed)
	}
}

// TestVariantLastFragment: a LEGACY sender moves the last fragment boundary
// so that fragment neither starts 00 19 nor is 1 byte long (SPEC §21.4 (b)).
func TestVariantLastFragment(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		set  func([]byte)
	}{
		{"starts_0019", 512, func(b []byte) { b[502], b[503] = 0, 0x19 }},
		{"one_byte", 502 + 506 + 1, func([]byte) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ConfigFor(VariantLegacy)
			c.EncodePasses = [2]Pass{}
			p := variantServer(t, c)
			app := bytes.Repeat([]byte{0x42}, tc.n)
			tc.set(app)
			if err := p.s.Send(&p.env, msec, 0, app, true); err != nil {
				t.Fatal(err)
			}
			p.s.Flush(&p.env, msec)
			frags := decodeAll(t, p, p.sink.take())
			if want := 2 + (tc.n-502)/506; len(frags) != want {
				t.Fatalf("%d fragments, want %d", len(frags), want)
			}
			last := frags[len(frags)-1][SeqHeaderLen:]
			if len(last) < 2 || (last[0] == 0 && last[1] == 0x19) {
				t.Fatalf("last fragment starts %x (%d bytes)", last[:min(2, len(last))], len(last))
			}
			whole := bytes.Clone(frags[0][FirstFragmentHeaderLen:])
			for _, f := range frags[1:] {
				whole = append(whole, f[SeqHeaderLen:]...)
			}
			if !bytes.Equal(whole, app) {
				t.Fatal("fragments do not reassemble to the packet")
			}
		})
	}
}

// TestVariantResponseInCombined: a LEGACY or EQ2 server sends its
// SessionResponse through the non-sequenced queue, so it may arrive inside
// an OP_Combined under the fixed key; eqgate's client accepts it there
// (SPEC §21.1 (a), §22.2 (a)) and handles the element beside it.
func TestVariantResponseInCombined(t *testing.T) {
	for _, v := range []Variant{VariantLegacy, VariantEQ2} {
		t.Run(v.String(), func(t *testing.T) {
			c := ConfigFor(v)
			c.EncodePasses = [2]Pass{}
			p := newPeer()
			if err := p.s.InitClient(mustCfg(t, c), 7, 0); err != nil {
				t.Fatal(err)
			}
			p.s.Tick(&p.env, 0)
			p.sink.take()
			params, err := NewParams(variants[v].fixedKey, 2, [2]Pass{}, 512)
			if err != nil {
				t.Fatal(err)
			}
			resp := SessionResponse{ConnectCode: 7, Key: variants[v].fixedKey, CRCBytes: 2, MaxPacketSize: 512}.AppendLegacyTo(nil)
			x := AppendCombinedHeader(nil)
			x = AppendCombinedElement(x, resp)
			x = AppendCombinedElement(x, AppendKeepAlive(nil))
			p.s.Receive(&p.env, msec, p.env.Coder.AppendEncode(&params, nil, x))
			if p.s.State() != StateConnected || p.h.opened != 1 {
				t.Fatalf("state %v opened %v drops %v", p.s.State(), p.h.opened, p.s.Stats().Drops)
			}
		})
	}
}

// TestVariantEQ2OutOfSession: an EQ2 server that receives OutOfSession sends
// one SessionDisconnect and closes (SPEC §22.4); a LEGACY one ignores it.
func TestVariantEQ2OutOfSession(t *testing.T) {
	for _, tc := range []struct {
		v      Variant
		closes bool
	}{{VariantEQ2, true}, {VariantLegacy, false}} {
		t.Run(tc.v.String(), func(t *testing.T) {
			c := ConfigFor(tc.v)
			c.EncodePasses = [2]Pass{}
			p := variantServer(t, c)
			params := p.s.Params()
			p.s.Receive(&p.env, msec, p.env.Coder.AppendEncode(&params, nil, []byte{0, byte(OpOutOfSession)}))
			p.s.Flush(&p.env, msec)
			p.s.Tick(&p.env, Nanotime(3*time.Second))
			discs := 0
			for _, e := range decodeAll(t, p, p.sink.take()) {
				if Opcode(e[1]) == OpSessionDisconnect {
					discs++
				}
			}
			if tc.closes && (discs != 1 || p.s.State() != StateDisconnected || len(p.h.closed) != 1 || p.h.closed[0] != ClosePeer) {
				t.Fatalf("disconnects %d state %v closed %v", discs, p.s.State(), p.h.closed)
			}
			if !tc.closes && (discs != 0 || len(p.h.closed) != 0) {
				t.Fatalf("LEGACY answered OutOfSession: disconnects %d closed %v", discs, p.h.closed)
			}
		})
	}
}

// TestVariantClientKeepAliveCap: a LEGACY or EQ2 client sends a keepalive
// at least every 40 s whatever KeepAliveDelay says (SPEC §21.5, §22.4: the
// chat server and EQ2EMu time out after 45 s).
func TestVariantClientKeepAliveCap(t *testing.T) {
	for _, v := range []Variant{VariantLegacy, VariantEQ2} {
		t.Run(v.String(), func(t *testing.T) {
			c := ConfigFor(v)
			c.EncodePasses = [2]Pass{}
			c.KeepAliveDelay = time.Minute
			c.StaleConnection = 10 * time.Minute
			c.ResendTimeout = c.StaleConnection
			p := newPeer()
			if err := p.s.InitClient(mustCfg(t, c), 7, 0); err != nil {
				t.Fatal(err)
			}
			if v == VariantEQ2 {
				p.s.SetEQ2Key(0)
			}
			p.s.Tick(&p.env, 0)
			p.s.Receive(&p.env, 0, SessionResponse{ConnectCode: 7, Key: variants[v].fixedKey, CRCBytes: 2, MaxPacketSize: 512}.AppendLegacyTo(nil))
			p.s.Flush(&p.env, 0)
			p.sink.take()
			if next := p.s.Next(); next > Nanotime(40*time.Second)+1 {
				t.Fatalf("next tick %v, after the 40 s keepalive", time.Duration(next))
			}
			p.s.Tick(&p.env, Nanotime(40*time.Second)+1)
			ka := 0
			for _, d := range p.sink.take() {
				if len(d) >= 2 && d[0] == 0 && Opcode(d[1]) == OpKeepAlive {
					ka++
				}
			}
			if ka != 1 {
				t.Fatalf("%d keepalives after 40 s of silence", ka)
			}
		})
	}
}
