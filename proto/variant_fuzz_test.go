package proto

import (
	"encoding/binary"
	"testing"
)

// FuzzVariantSession drives LEGACY and EQ2 sessions, server and client, with
// arbitrary packet sequences. x is split into chunks (u8 length, bytes); a
// chunk whose length byte is odd goes in as a raw datagram, an even one as
// the payload of the next in-order OP_Packet, CRC'd with the variant's key,
// so it reaches the reliable layer and, on EQ2, the RC4 and deflate layer of
// a keyed session. Nothing may panic, the caps hold, and a broken EQ2 stream
// closes the session rather than delivering garbage forever.
func FuzzVariantSession(f *testing.F) {
	f.Add(uint8(0), []byte{6, 0, 0x19, 2, 0x12, 0, 0, 5, 0, 5, 1, 2, 3})
	f.Add(uint8(1), []byte{8, 0x01, 0x58, 0xc3, 0xfa, 0xbf, 0x84, 0x91, 0x81, 3, 0, 6})
	f.Add(uint8(2), []byte{10, 0, 0, 0xde, 0x79, 0xb1, 0x6f, 1, 2, 3, 4})
	f.Add(uint8(3), []byte{4, 0, 0x19, 0xff, 0, 5, 0, 3, 4, 0, 0x15, 0, 0})
	f.Add(uint8(4), []byte{12, 0, 0x0d, 0, 0, 0, 0, 0, 9, 1, 2, 3, 4})
	cfgs := [2]*Config{}
	for i, v := range []Variant{VariantLegacy, VariantEQ2} {
		c := ConfigFor(v)
		c.MaxFragmentSize = 1 << 16
		c.ReorderBytes = 1 << 14
		c.EQ2.MaxInflate = 1 << 16
		cfgs[i] = mustCfg(f, c)
	}
	coder, eq2 := &Coder{}, &EQ2Coder{}
	f.Fuzz(func(t *testing.T, mode uint8, x []byte) {
		cfg := cfgs[mode&1]
		client := mode&2 != 0
		p := newPeer()
		p.env.Coder, p.env.EQ2 = coder, eq2
		eh := &echoHandler{env: &p.env} // refusals (1-byte echoes to LEGACY) are fine here
		p.env.Handler = eh
		var seq Seq
		if client {
			p.s.InitClient(cfg, 7, 0)
			p.s.Tick(&p.env, 0)
			resp := SessionResponse{ConnectCode: 7, Key: variants[cfg.Variant].fixedKey, CRCBytes: 2, MaxPacketSize: 512}
			p.s.Receive(&p.env, 0, resp.AppendLegacyTo(nil))
			if cfg.Variant == VariantEQ2 {
				// The key request, so the client's RC4 is keyed.
				p.s.Receive(&p.env, 0, p.encode(t, AppendPacket(nil, 0, 0, AppendEQ2KeyRequest(nil))))
				seq = 1
			}
		} else {
			p.s.InitServer(cfg, 0, 0)
			p.s.Receive(&p.env, 0, SessionRequest{ConnectCode: 7, MaxPacketSize: 512}.AppendTo(nil))
			if cfg.Variant == VariantEQ2 {
				// The key packet: K64 from the input, so RC4 runs.
				var k [8]byte
				copy(k[:], x)
				kp := AppendEQ2KeyPacket(nil, binary.BigEndian.Uint64(k[:])|1, EQ2KeyPacketLen)
				p.s.Receive(&p.env, 0, p.encode(t, AppendPacket(nil, 0, 0, kp)))
				seq = 1
			}
		}
		now := Nanotime(0)
		for len(x) > 0 && p.s.State() != StateDisconnected {
			n := int(x[0])
			x = x[1:]
			chunk := x[:min(n>>1, len(x))]
			x = x[len(chunk):]
			var d []byte
			if n&1 == 1 || len(chunk) == 0 {
				d = append([]byte(nil), chunk...)
			} else {
				d = p.encode(t, AppendPacket(nil, 0, seq, chunk))
				seq++
			}
			now += 1e6
			eh.now = now
			p.s.Receive(&p.env, now, d)
			p.s.Flush(&p.env, now)
			p.s.Tick(&p.env, now)
		}
		st := &p.s.streams[0]
		if st.reorderBytes > cfg.ReorderBytes || st.reorderN > cfg.ReorderWindow || cap(st.frag) > 2*cfg.MaxFragmentSize {
			t.Fatal("stream over its caps")
		}
		if a := p.s.EQ2(); a != nil && a.Queued() > cfg.EQ2.QueuePackets {
			t.Fatalf("EQ2 queue %d", a.Queued())
		}
		p.s.Release(&p.env)
	})
}

// encode CRCs a decoded packet with the session's parameters.
func (p *peer) encode(t *testing.T, pkt []byte) []byte {
	params := p.s.Params()
	return p.env.Coder.AppendEncode(&params, nil, pkt)
}
