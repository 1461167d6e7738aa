package shard

import (
	"net/netip"
	"testing"
	"time"

	"github.com/eqgate/eqgate/proto"
)

// FuzzShardAdmission feeds many datagrams from many endpoints through one
// shard's input. The input is a script of records: endpoint (1 byte, one
// of 16), kind (1 byte), length (1 byte), body. Kind 0 sends the body
// raw; kind 1 sends a SessionRequest with the body's connect code; kind 2
// sends the body encoded under the key the shard offers that endpoint (a
// proof, so sessions open and the fuzzer reaches them); kind 3 advances
// the clock by body[0] seconds. Nothing may panic, every datagram lands in
// one outcome, at most 16 sessions exist, an endpoint that never proved
// gets at most 1.3 times its bytes plus 17 per request, and the shard
// allocates no state for the unproven.
func FuzzShardAdmission(f *testing.F) {
	req := request(7)
	f.Add(append([]byte{0, 1, byte(len(req))}, req...))
	f.Add([]byte{1, 2, 2, 0, 6, 1, 2, 6, 0, 9, 0, 0, 1, 2})
	f.Add([]byte{2, 2, 4, 0, 0x15, 0, 5, 2, 2, 2, 0, 5, 2, 3, 1, 70, 2, 2, 2, 0, 6})
	f.Add([]byte{3, 0, 5, 0, 9, 0, 0, 1, 3, 0, 8, 0, 5, 1, 2, 3, 4, 5, 6})
	// Raw proofs the oracle once missed (CI, d690d67: "endpoint 12 has a
	// session without a proof"): one under the key of a max packet size an
	// earlier raw request negotiated, one read by the shard only after the
	// clock moved to the epoch whose key it carries.
	g, _ := memGroup(f, 1, RoleServer, &echo{})
	small := proto.SessionRequest{ProtocolVersion: 3, ConnectCode: 9, MaxPacketSize: 300}.AppendTo(nil)
	seed := append([]byte{4, 0, byte(len(small))}, small...)
	p := rawProof(g.Shard(0), 0, 4, 300)
	f.Add(append(append(seed, 4, 0, byte(len(p))), p...))
	p = rawProof(g.Shard(0), 1, 5, 0)
	f.Add(append([]byte{5, 0, byte(len(p))}, append(p, 5, 3, 1, 60)...))
	f.Fuzz(func(t *testing.T, script []byte) {
		g, socks := memGroup(t, 1, RoleServer, &echo{})
		s, sock := g.Shard(0), socks[0]
		sock.keep = true
		addr := fuzzAddr
		var in, requests [16]int
		proved := [16]bool{}
		// Raw datagrams are judged when the shard has read them, at its
		// clock then and against every max packet size the endpoint
		// negotiated so far: a trailer forged under a key the shard would
		// accept at that moment is a proof, whatever the clock or the
		// hints were when the record was read.
		var raw []memDgram
		var mps [16][]int
		flush := func() {
			step(s)
			if len(sock.in) != 0 {
				t.Fatalf("a step left %d datagrams unread", len(sock.in))
			}
			for _, r := range raw {
				e := r.addr.Addr().As4()[3] & 15
				ep := endpointOf(r.addr)
				for _, mp := range append(mps[e], 0) {
					if _, ok := s.adm.adm.Verify(s.now, &ep.addr, ep.port, mp, r.b); ok {
						proved[e] = true
					}
				}
			}
			raw = raw[:0]
		}
		for len(script) >= 3 {
			var e, kind byte
			var body []byte
			e, kind, body, script = nextRecord(script)
			e &= 15
			var d []byte
			switch kind {
			case 0:
				d = append([]byte(nil), body...)
				raw = append(raw, memDgram{d, addr(e)})
				if r, err := proto.ParseSessionRequest(d); err == nil {
					mps[e] = append(mps[e], proto.NegotiatedMaxPacket(&s.cfg.Proto, r.MaxPacketSize))
				}
			case 1:
				d = request(codeOf(body))
				requests[e]++
			case 2:
				if len(body) < 2 {
					continue
				}
				ep := endpointOf(addr(e))
				a, pc := s.adm.adm, &s.cfg.Proto
				p, _ := proto.NewParams(a.Key(a.Epoch(s.clock()), &ep.addr, ep.port, pc.MaxPacketSize), pc.CRCBytes, pc.EncodePasses, pc.MaxPacketSize)
				var c proto.Coder
				d = c.AppendEncode(&p, nil, body)
				proved[e] = true
			case 3:
				if len(body) > 0 {
					advance(s, time.Duration(body[0])*time.Second)
				}
				flush()
				continue
			}
			in[e] += len(d)
			sock.in = append(sock.in, memDgram{d, addr(e)})
			if len(sock.in) == 8 {
				flush()
			}
		}
		flush()
		step(s)
		assertOutcomes(t, s)
		if s.live > 16 {
			t.Fatalf("%d sessions from 16 endpoints", s.live)
		}
		var out [16]int
		for _, d := range sock.out {
			a := d.addr.Addr().As4()
			out[a[3]&15] += len(d.b)
		}
		for e := range 16 {
			if !proved[e] && 10*out[e] > 13*in[e]+10*17*requests[e] {
				t.Fatalf("endpoint %d never proved: %d bytes out for %d in and %d requests", e, out[e], in[e], requests[e])
			}
			ep := endpointOf(addr(byte(e)))
			if !proved[e] && s.index.find(ep.hash(), &ep, &s.meta) >= 0 {
				t.Fatalf("endpoint %d has a session without a proof", e)
			}
		}
	})
}

// fuzzAddr is the address of FuzzShardAdmission's endpoint e (one of 16).
func fuzzAddr(e byte) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 7, 0, e & 15}), 6000+uint16(e&15))
}

// rawProof is a keepalive from fuzzAddr(e) encoded under the key s offers
// it in epoch for max packet size mp (0: the configured one).
func rawProof(s *Shard, epoch uint64, e byte, mp int) []byte {
	pc := &s.cfg.Proto
	if mp == 0 {
		mp = pc.MaxPacketSize
	}
	ep := endpointOf(fuzzAddr(e))
	p, err := proto.NewParams(s.adm.adm.Key(epoch, &ep.addr, ep.port, mp), pc.CRCBytes, pc.EncodePasses, mp)
	if err != nil {
		panic(err)
	}
	var c proto.Coder
	return c.AppendEncode(&p, nil, []byte{0, 6})
}

// nextRecord splits the first record off a fuzz script (at least 3 bytes):
// endpoint byte, kind (0-3), and a body of up to the length byte.
func nextRecord(script []byte) (e, kind byte, body, rest []byte) {
	e, kind, n := script[0], script[1]%4, int(script[2])
	script = script[3:]
	n = min(n, len(script))
	return e, kind, script[:n], script[n:]
}

// codeOf reads a connect code from a record body (big-endian, low bytes last).
func codeOf(body []byte) uint32 {
	var code uint32
	for _, b := range body {
		code = code<<8 | uint32(b)
	}
	return code
}
