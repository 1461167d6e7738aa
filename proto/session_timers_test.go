package proto

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"
)

func TestSessionClientConnectRetryAndGiveUp(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	c := newPeer()
	if err := c.s.InitClient(cfg, 0xa1b2c3d4, 0); err != nil {
		t.Fatal(err)
	}
	var sends []Nanotime
	now := Nanotime(0)
	for now != Never {
		before := len(c.sink.out)
		next := c.s.Tick(&c.env, now)
		for range c.sink.out[before:] {
			sends = append(sends, now)
		}
		now = next
	}
	want := "000100000003a1b2c3d400000200"
	for _, d := range c.sink.out {
		if hex.EncodeToString(d) != want {
			t.Fatalf("request %x", d)
		}
	}
	// First at once, then every ConnectDelay (strictly more than 500 ms),
	// until ConnectStale with nothing received.
	if len(sends) != 10 || sends[0] != 0 || sends[1] != Nanotime(cfg.ConnectDelay)+1 {
		t.Fatalf("requests at %v", sends)
	}
	if len(c.h.closed) != 1 || c.h.closed[0] != CloseConnectTimeout || c.s.State() != StateDisconnected {
		t.Fatalf("closed %v state %v", c.h.closed, c.s.State())
	}
}

func TestSessionServerRequestRepeats(t *testing.T) {
	cfg := mustCfg(t, ZoneConfig())
	p := newPeer()
	if err := p.s.InitServer(cfg, 0xdeadbeef, 0); err != nil {
		t.Fatal(err)
	}
	req := SessionRequest{ProtocolVersion: 3, ConnectCode: 0x12345678, MaxPacketSize: 400}.AppendTo(nil)
	other := SessionRequest{ProtocolVersion: 3, ConnectCode: 0x99, MaxPacketSize: 512}.AppendTo(nil)
	p.s.Receive(&p.env, 0, bytes.Clone(req))
	p.s.Receive(&p.env, 1, bytes.Clone(req))
	p.s.Receive(&p.env, 2, other)
	out := p.sink.take()
	want := "000212345678deadbeef0201000000" + "0190"
	if len(out) != 2 || hex.EncodeToString(out[0]) != want || !bytes.Equal(out[0], out[1]) || p.h.opened != 1 {
		t.Fatalf("responses %x opened %d", out, p.h.opened)
	}
	// A short request from the shard's point of view.
	if ClassifyNoSession(req[:13]) != NoSessionDrop || ClassifyNoSession([]byte{0, 0x1d, 0, 0, 0, 0}) != NoSessionDrop ||
		ClassifyNoSession([]byte{0, 9, 0, 0, 1}) != NoSessionOutOfSession || ClassifyNoSession(req) != NoSessionCreate {
		t.Fatal("ClassifyNoSession")
	}
	// A request offering a max packet size too small to fragment is refused.
	q := newPeer()
	_ = q.s.InitServer(cfg, 1, 0)
	q.s.Receive(&q.env, 0, SessionRequest{ConnectCode: 1, MaxPacketSize: 16}.AppendTo(nil))
	if q.s.State() != StateDisconnected || len(q.h.closed) != 1 || q.h.closed[0] != CloseProtocol || len(q.sink.out) != 0 {
		t.Fatalf("tiny max packet: state %v", q.s.State())
	}
}

func TestSessionKeepAliveAndStale(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	c, s := handshake(t, cfg, 0)
	if !s.s.Proved() {
		t.Fatal("the client's keepalive with a valid CRC did not prove it")
	}
	ka := Nanotime(cfg.KeepAliveDelay)
	// Nothing due before the keepalive.
	if next := s.s.Tick(&s.env, ka); next != ka+1 || len(s.sink.out) != 0 {
		t.Fatalf("early keepalive, next %v", next)
	}
	s.s.Tick(&s.env, ka+1)
	out := s.sink.take()
	if len(out) != 1 || !bytes.Equal(out[0][:2], []byte{0, 6}) {
		t.Fatalf("keepalive %x", out)
	}
	c.s.Receive(&c.env, ka+1, out[0])
	if c.s.Stats().KeepAlivesRecv != 1 || len(c.sink.out) != 0 {
		t.Fatal("keepalive echoed or not counted")
	}
	// Stale: nothing received for StaleConnection closes without a packet.
	stale := Nanotime(cfg.StaleConnection) + 1
	if s.s.Tick(&s.env, stale) != Never || s.s.State() != StateDisconnected || len(s.h.closed) != 1 || s.h.closed[0] != CloseTimeout {
		t.Fatalf("state %v closed %v", s.s.State(), s.h.closed)
	}
	if len(s.sink.take()) != 0 {
		t.Fatal("stale close sent a packet")
	}
}

func TestSessionStatRequest(t *testing.T) {
	_, s := handshake(t, mustCfg(t, DefaultConfig()), 0)
	req := unhex(t, "0007010200000078000000"+"6e00000050000000c800000073"+"00000000000003e800000000000003de")
	s.inject(t, req)
	out := s.sink.take()
	if len(out) != 1 {
		t.Fatalf("%d answers", len(out))
	}
	params := s.s.Params()
	var c Coder
	d, err := c.Decode(&params, out[0])
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseSessionStatResponse(d)
	if err != nil {
		t.Fatal(err)
	}
	st := s.s.Stats()
	if r.Timestamp != 0x0102 || r.ClientSent != 1000 || r.ClientRecv != 990 || r.ServerRecv != st.RecvPackets ||
		r.ServerSent != st.SentPackets-1 || st.PeerSent != 1000 || st.PeerRecv != 990 {
		t.Fatalf("response %+v stats %+v", r, st)
	}
}

func TestSessionCloseLinger(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	c, s := handshake(t, cfg, 0)
	if err := c.s.Send(&c.env, 0, 0, []byte{1, 2, 3}, true); err != nil {
		t.Fatal(err)
	}
	c.s.Close(&c.env, 0)
	out := c.sink.take()
	// The held packet is flushed before the SessionDisconnect.
	if len(out) != 2 || out[1][1] != byte(OpSessionDisconnect) || c.s.State() != StateDisconnecting || c.h.closed[0] != CloseLocal {
		t.Fatalf("close sent %x, state %v", out, c.s.State())
	}
	if err := c.s.Send(&c.env, 0, 0, []byte{1}, true); err != ErrNotConnected {
		t.Fatalf("send while closing: %v", err)
	}
	linger := Nanotime(cfg.CloseLinger)
	if next := c.s.Next(); next > linger+1 { // the unacked packet may be due first
		t.Fatalf("next %v", next)
	}
	// The server answers once; a closing client does not answer back.
	for _, d := range out {
		s.s.Receive(&s.env, 1, d)
	}
	if s.s.State() != StateDisconnecting || s.h.closed[0] != ClosePeer || len(s.h.got) != 1 {
		t.Fatalf("server %v %v", s.s.State(), s.h.closed)
	}
	for _, d := range s.sink.take() {
		c.s.Receive(&c.env, 2, d)
	}
	if len(c.sink.out) != 0 {
		t.Fatalf("client answered the disconnect: %x", c.sink.out)
	}
	if c.s.Tick(&c.env, 2) != Never || c.s.State() != StateDisconnected || len(c.sink.out) != 0 {
		t.Fatal("client did not finish quietly after the peer's disconnect")
	}
	s.s.Tick(&s.env, 2)
	if s.s.State() != StateDisconnected || len(s.sink.take()) != 1 || len(s.h.closed) != 1 {
		t.Fatal("server did not finish with its second disconnect")
	}
}

func TestSessionLocalCloseLingerTimer(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	c, _ := handshake(t, cfg, 0)
	c.s.Close(&c.env, 0)
	c.sink.take()
	linger := Nanotime(cfg.CloseLinger)
	if c.s.Tick(&c.env, linger) == Never || c.s.State() != StateDisconnecting {
		t.Fatal("finished before the linger")
	}
	if c.s.Tick(&c.env, linger+1) != Never || c.s.State() != StateDisconnected || len(c.sink.take()) != 1 {
		t.Fatal("no second disconnect after the linger")
	}
}

func TestSessionOutOfSession(t *testing.T) {
	c, s := handshake(t, mustCfg(t, DefaultConfig()), 0)
	s.s.Receive(&s.env, 0, AppendOutOfSession(nil))
	if s.s.State() != StateConnected {
		t.Fatal("server closed on OutOfSession")
	}
	c.s.Receive(&c.env, 0, AppendOutOfSession(nil))
	if c.s.State() != StateDisconnected || c.h.closed[0] != CloseRefused || len(c.sink.out) != 0 {
		t.Fatalf("client %v sent %x", c.s.State(), c.sink.out)
	}
}

func TestSessionDataRate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.OutgoingDataRate = 4 // KB/s
	c, _ := handshake(t, mustCfg(t, cfg), 0)
	msg := bytes.Repeat([]byte{1}, 400)
	for range 20 {
		_ = c.s.Send(&c.env, 0, 0, msg, true)
		c.s.Flush(&c.env, 0)
	}
	sent := len(c.sink.take())
	if st := c.s.Stats(); sent >= 20 || st.RateDrops == 0 || int(st.RateDrops)+sent != 20 {
		t.Fatalf("sent %d, rate drops %d", sent, st.RateDrops)
	}
	// A second later the budget is back: the resends go out.
	c.s.Tick(&c.env, Nanotime(time.Second))
	if len(c.sink.take()) == 0 {
		t.Fatal("nothing sent after the refill")
	}
}

func TestSessionVariantConfig(t *testing.T) {
	for _, v := range []Variant{VariantLegacy, VariantEQ2} {
		c := ConfigFor(v)
		if err := c.Validate(); err != nil {
			t.Fatalf("%v defaults: %v", v, err)
		}
		if variants[v].window != 2048 || variants[v].streams != 1 || !variants[v].legacyResponse {
			t.Fatalf("%v rules", v)
		}
		// RS's in-flight cap would overrun the 2048 window.
		c = DefaultConfig()
		c.Variant = v
		if err := c.Validate(); err != ErrBadConfig {
			t.Fatalf("%v with RS caps: %v", v, err)
		}
		for _, bad := range []func(*Config){
			func(c *Config) { c.CRCBytes = 4 },
			func(c *Config) { c.EncodePasses = [2]Pass{PassCompress, PassXOR} },
			func(c *Config) { c.AckDelay = 0 },
		} {
			c := ConfigFor(v)
			bad(&c)
			if err := c.Validate(); err != ErrBadConfig {
				t.Fatalf("%v: bad config accepted: %v", v, err)
			}
		}
		if got, ok := ParseVariant(v.String()); !ok || got != v {
			t.Fatalf("ParseVariant(%q) = %v, %v", v.String(), got, ok)
		}
	}
	c := ConfigFor(VariantEQ2)
	c.EncodePasses = [2]Pass{PassXOR, PassNone}
	if c.Validate() != ErrBadConfig {
		t.Fatal("EQ2 with a protocol pass accepted")
	}
	c = DefaultConfig()
	c.Variant = NumVariants
	if c.Validate() != ErrVariantNotSupported {
		t.Fatal("unknown variant accepted")
	}
	var s Session
	c = DefaultConfig()
	if s.InitServer(&c, 1, 0) != ErrConfigNotValidated {
		t.Fatal("unvalidated config accepted")
	}
}

// TestSpoofedKeepAliveKeepsNothingAlive: a 2-byte keepalive (no CRC, so it
// proves nothing) every 50 s, or one with a wrong trailer, does not refresh
// liveness: the session still goes stale StaleConnection after its last
// datagram that passed the CRC (issue 16, point 2).
func TestSpoofedKeepAliveKeepsNothingAlive(t *testing.T) {
	cfg := mustCfg(t, DefaultConfig())
	_, s := handshake(t, cfg, 0)
	step := Nanotime(50 * time.Second)
	for now := step; now < Nanotime(cfg.StaleConnection); now += step {
		s.s.Receive(&s.env, now, []byte{0, 6})
		s.s.Receive(&s.env, now, []byte{0, 6, 0xde, 0xad})
		s.s.Tick(&s.env, now)
	}
	stale := Nanotime(cfg.StaleConnection) + 1
	s.s.Tick(&s.env, stale)
	if s.s.State() != StateDisconnected || len(s.h.closed) != 1 || s.h.closed[0] != CloseTimeout {
		t.Fatalf("state %v closed %v: unproven keepalives kept the session alive", s.s.State(), s.h.closed)
	}
}
