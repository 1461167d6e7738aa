package proto

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// eq2Pair opens an EQ2 client (K64 k) and server and runs the key
// exchange, in virtual time.
func eq2Pair(t *testing.T, k uint64) (c, s *peer) {
	t.Helper()
	cfg := mustCfg(t, ConfigFor(VariantEQ2))
	c, s = newPeer(), newPeer()
	if err := c.s.InitClient(cfg, 7, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.s.SetEQ2Key(k); err != nil {
		t.Fatal(err)
	}
	if err := s.s.InitServer(cfg, 0x1234, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50 && !(s.s.EQ2().Keyed() && c.s.EQ2().Keyed()); i++ {
		c.now += 10 * msec
		s.now = c.now
		c.s.Tick(&c.env, c.now)
		s.s.Tick(&s.env, s.now)
		pump(t, c, s)
	}
	if c.s.State() != StateConnected || !s.s.EQ2().Keyed() || s.s.EQ2().K64() != k {
		t.Fatalf("no key exchange: client %v, server keyed %v k64 %x", c.s.State(), s.s.EQ2().Keyed(), s.s.EQ2().K64())
	}
	return c, s
}

// TestVariantEQ2ForcedFragments: a max_packet_size−10 byte client message
// whose ciphertext starts 00 (EQ2EMu would misread it as one OP_Packet)
// goes as a two-fragment set, no filler configured, and arrives
// byte-exact.
func TestVariantEQ2ForcedFragments(t *testing.T) {
	r := rand.New(rand.NewPCG(0xe02, 1))
	msg := make([]byte, ConfigFor(VariantEQ2).MaxPacketSize-10)
	for i := range msg {
		msg[i] = byte(r.Uint32())
	}
	msg[0] = 0x42 // a one-byte opcode form; the key search makes its ciphertext 00
	// The key packet goes unencrypted, so the message meets the first
	// byte of the client-to-server keystream: search K64 for one that
	// turns msg[0] into 00.
	var k uint64
	for {
		k = r.Uint64()
		_, c2s := eq2Ciphers(k)
		b := []byte{msg[0]}
		c2s.XORKeyStream(b, b)
		if k != 0 && b[0] == 0 {
			break
		}
	}
	c, s := eq2Pair(t, k)
	if m := c.s.Params().MaxPacket; m != len(msg)+10 {
		t.Fatalf("max_packet_size %d, message %d", m, len(msg))
	}
	if err := c.s.Send(&c.env, c.now, 0, msg, true); err != nil {
		t.Fatalf("send: %v", err)
	}
	c.s.Flush(&c.env, c.now)
	out := c.sink.take()
	var frags [][]byte
	for _, d := range decodeAll(t, c, out) {
		if Opcode(d[1]) == OpFragment {
			frags = append(frags, d)
		}
	}
	if st := c.s.EQ2().Stats; st.ForcedFragments != 1 || st.Fillers != 0 || len(frags) != 2 {
		t.Fatalf("forced %d fillers %d, %d fragments; want 1, 0, 2", st.ForcedFragments, st.Fillers, len(frags))
	}
	if last := frags[1][SeqHeaderLen:]; len(last) < 2 || (last[0] == 0 && last[1] == byte(OpAppCombined)) {
		t.Fatalf("last fragment starts %x", last[:min(2, len(last))])
	}
	before := len(s.h.got)
	for _, d := range out {
		s.s.Receive(&s.env, s.now, d)
	}
	if got := s.h.got[before:]; len(got) != 1 || !bytes.Equal(got[0].app, msg) {
		t.Fatalf("server got %d messages, want the %d-byte message byte-exact", len(got), len(msg))
	}
}

// TestVariantEQ2KeyFromEnv: an EQ2 client draws its K64 from Env.Random
// (reproducible with a seeded Env.Rand), non-zero even when it draws 0.
func TestVariantEQ2KeyFromEnv(t *testing.T) {
	cfg := mustCfg(t, ConfigFor(VariantEQ2))
	for _, tc := range []struct {
		draws []uint32
		want  uint64
	}{
		{[]uint32{0x01234567, 0x89abcdef}, 0x0123456789abcdef},
		{[]uint32{0, 0}, 1},
	} {
		p := newPeer()
		i := 0
		p.env.Rand = func() uint32 {
			i++
			return tc.draws[(i-1)%len(tc.draws)]
		}
		if err := p.s.InitClient(cfg, 7, 0); err != nil {
			t.Fatal(err)
		}
		p.s.Tick(&p.env, 0)
		p.s.Receive(&p.env, 0, SessionResponse{ConnectCode: 7, Key: EQ2Key, CRCBytes: 2, MaxPacketSize: 512}.AppendLegacyTo(nil))
		if err := p.s.Send(&p.env, msec, 0, []byte{0x42, 1, 2, 3}, true); err != nil {
			t.Fatal(err)
		}
		if k := p.s.EQ2().K64(); k != tc.want {
			t.Errorf("draws %x: K64 %x, want %x", tc.draws, k, tc.want)
		}
	}
}
