package shard

import (
	"net/netip"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// variantShard is a one-shard server group of variant v with one session
// allowed per address, so a replacement must release the old one's caps.
func variantShard(t *testing.T, v proto.Variant, h Handler) (*Shard, *memSocket) {
	t.Helper()
	pc := proto.ConfigFor(v)
	pc.EncodePasses = [2]proto.Pass{} // LEGACY login: no pass, so the test encodes by hand
	g, socks := memGroupCfg(t, 1, Config{Role: RoleServer, Proto: pc, MaxSessionsPerIP: 1}, h)
	socks[0].keep = true
	return g.Shard(0), socks[0]
}

// responseCodes returns the connect codes of the SessionResponses in ds and
// whether ds held a SessionDisconnect.
func responseCodes(t *testing.T, ds [][]byte) (codes []uint32, disconnect bool) {
	t.Helper()
	for _, d := range ds {
		switch {
		case len(d) >= 2 && d[0] == 0 && proto.Opcode(d[1]) == proto.OpSessionResponse:
			r, err := proto.ParseSessionResponse(d)
			if err != nil {
				t.Fatal(err)
			}
			codes = append(codes, r.ConnectCode)
		case len(d) >= 2 && d[0] == 0 && proto.Opcode(d[1]) == proto.OpSessionDisconnect:
			disconnect = true
		}
	}
	return codes, disconnect
}

// TestEQ2RequestReplaces: on EQ2 a SessionRequest with a new connect code
// from an endpoint that has a session replaces it (SPEC §22.1): the old
// session closes with CloseReplaced, without a SessionDisconnect, and the
// new one gets its response within the per-IP cap of 1. A repeat of the
// current code is answered by the session as before.
func TestEQ2RequestReplaces(t *testing.T) {
	h := &echo{}
	s, sock := variantShard(t, proto.VariantEQ2, h)
	ap := netip.MustParseAddrPort("10.9.0.1:4000")
	c := s.Counters()
	for k, tc := range []struct {
		code   uint32
		opened int
		closed int
	}{
		{1, 1, 0},
		{1, 1, 0}, // a retransmission: same session, same answer
		{2, 2, 1}, // a new code: replaced
		{3, 3, 2},
	} {
		sock.in = append(sock.in, memDgram{request(tc.code), ap})
		step(s)
		codes, disc := responseCodes(t, outTo(sock, ap))
		if len(codes) != 1 || codes[0] != tc.code || disc {
			t.Fatalf("request %d (code %d): responses %v, disconnect %v", k, tc.code, codes, disc)
		}
		if h.opened != tc.opened || h.closed != tc.closed || s.live != 1 {
			t.Fatalf("request %d: opened %d closed %d live %d", k, h.opened, h.closed, s.live)
		}
	}
	for _, r := range h.reasons {
		if r != proto.CloseReplaced {
			t.Fatalf("closed with %v", r)
		}
	}
	if n := c.SessionsClosed[proto.CloseReplaced].Load(); n != 2 {
		t.Fatalf("SessionsClosed[replaced] = %d", n)
	}
	// A short datagram that merely starts 00 01 replaces nothing.
	sock.in = append(sock.in, memDgram{[]byte{0, 1, 0, 0}, ap})
	step(s)
	if h.closed != 2 || s.live != 1 {
		t.Fatalf("a 4-byte 00 01 closed the session: closed %d live %d", h.closed, s.live)
	}
	assertOutcomes(t, s)
}

// TestLegacyRequestAgain: on LEGACY a SessionRequest with a new code while
// established restarts a session that has carried no application data (same
// session, a response with the new code) and closes, with a
// SessionDisconnect, one that has (SPEC §21.1); the next request then opens
// a new session.
func TestLegacyRequestAgain(t *testing.T) {
	h := &echo{}
	s, sock := variantShard(t, proto.VariantLegacy, h)
	ap := netip.MustParseAddrPort("10.9.0.2:4000")
	send := func(b []byte) ([]uint32, bool) {
		sock.in = append(sock.in, memDgram{b, ap})
		step(s)
		return responseCodes(t, outTo(sock, ap))
	}
	if codes, _ := send(request(1)); len(codes) != 1 || codes[0] != 1 {
		t.Fatalf("first response %v", codes)
	}
	if codes, disc := send(request(2)); len(codes) != 1 || codes[0] != 2 || disc || h.opened != 1 || h.closed != 0 {
		t.Fatalf("restart: responses %v disconnect %v opened %d closed %d", codes, disc, h.opened, h.closed)
	}
	params, err := proto.NewParams(proto.LegacyKey, 2, [2]proto.Pass{}, 512)
	if err != nil {
		t.Fatal(err)
	}
	var cd proto.Coder
	send(cd.AppendEncode(&params, nil, proto.AppendPacket(nil, 0, 0, []byte{0x42, 0x02, 7})))
	if h.msgs != 1 {
		t.Fatalf("data not delivered after the restart (%d)", h.msgs)
	}
	codes, disc := send(request(3))
	if len(codes) != 0 || !disc || h.closed != 1 || h.reasons[0] != proto.CloseProtocol {
		t.Fatalf("identified stream: responses %v disconnect %v closed %v", codes, disc, h.reasons)
	}
	advance(s, 3*time.Second) // past the close linger
	step(s)
	step(s)
	if _, disc := responseCodes(t, outTo(sock, ap)); disc {
		t.Fatal("a second SessionDisconnect after the linger")
	}
	if codes, _ := send(request(4)); len(codes) != 1 || codes[0] != 4 || h.opened != 2 || s.live != 1 {
		t.Fatalf("after the close: responses %v opened %d live %d", codes, h.opened, s.live)
	}
	assertOutcomes(t, s)
}

// TestLenientCRCCounted: a datagram that an EQ2 CRC leniency lets through
// (an Ack with a 00 00 trailer) reaches its session and is counted in
// LenientCRC.
func TestLenientCRCCounted(t *testing.T) {
	h := &echo{}
	s, sock := variantShard(t, proto.VariantEQ2, h)
	ap := netip.MustParseAddrPort("10.9.0.3:4000")
	sock.in = append(sock.in, memDgram{request(1), ap}, memDgram{[]byte{0, 0x15, 0, 0, 0, 0}, ap}) // Ack(0), trailer 00 00
	step(s)
	if n := s.Counters().LenientCRC.Load(); n != 1 {
		t.Fatalf("LenientCRC = %d, want 1", n)
	}
	assertOutcomes(t, s)
}

// FuzzShardVariant drives a LEGACY or EQ2 server shard (first byte: which)
// with a script of records: endpoint (one of 8), kind, length, body. Kind 0
// sends the body raw, 1 a SessionRequest with the body's connect code (so
// sessions are replaced and restarted), 2 the body under the variant's
// fixed key and CRC, 3 advances the clock by body[0] seconds. Nothing may
// panic, every datagram lands in one outcome, and an endpoint never holds
// more than one session.
func FuzzShardVariant(f *testing.F) {
	f.Add([]byte{0, 1, 1, 4, 0, 0, 0, 1, 1, 1, 4, 0, 0, 0, 2, 1, 2, 5, 0, 9, 0, 0, 7})
	f.Add([]byte{1, 2, 1, 4, 0, 0, 0, 1, 2, 2, 2, 0, 6, 2, 1, 4, 0, 0, 0, 3, 2, 3, 1, 50})
	f.Add([]byte{1, 3, 1, 1, 9, 3, 0, 4, 0, 1, 0, 0, 3, 2, 6, 0, 0x1d, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) == 0 {
			return
		}
		v, key := proto.VariantLegacy, proto.LegacyKey
		if script[0]&1 == 1 {
			v, key = proto.VariantEQ2, proto.EQ2Key
		}
		script = script[1:]
		s, sock := variantShard(t, v, &laxEcho{})
		params, err := proto.NewParams(key, 2, [2]proto.Pass{}, 512)
		if err != nil {
			t.Fatal(err)
		}
		addr := func(e byte) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 8, 0, e & 7}), 7000+uint16(e&7))
		}
		for len(script) >= 3 {
			var e, kind byte
			var body []byte
			e, kind, body, script = nextRecord(script)
			e &= 7
			var d []byte
			switch kind {
			case 0:
				d = append([]byte(nil), body...)
			case 1:
				d = request(codeOf(body))
			case 2:
				if len(body) < 2 {
					continue
				}
				var c proto.Coder
				d = c.AppendEncode(&params, nil, body)
			case 3:
				if len(body) > 0 {
					advance(s, time.Duration(body[0])*time.Second)
				}
				step(s)
				continue
			}
			sock.in = append(sock.in, memDgram{d, addr(e)})
			step(s)
			sock.out = sock.out[:0]
			if s.live > 8 {
				t.Fatalf("%d sessions for 8 endpoints", s.live)
			}
		}
		step(s)
		assertOutcomes(t, s)
	})
}

// laxEcho echoes what its session will take: a LEGACY world, zone or login
// session refuses 1-byte packets, which a fuzzed peer may send.
type laxEcho struct{ echo }

func (e *laxEcho) Message(sh *Shard, id ID, stream int, data []byte) {
	_ = sh.Send(id, 0, data, true)
}
