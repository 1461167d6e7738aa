package proto

import (
	"bytes"
	"testing"
)

// eq2FuzzChunks splits fuzz data into payloads: [flags][len u16 LE][bytes],
// the length cut to what is left. flags bit 0: fragmented.
func eq2FuzzChunks(data []byte, fn func(flags byte, p []byte)) {
	for len(data) >= 3 {
		flags, n := data[0], int(data[1])|int(data[2])<<8
		data = data[3:]
		n = min(n, len(data))
		fn(flags, data[:n])
		data = data[n:]
	}
}

func eq2FuzzChunk(flags byte, p []byte) []byte {
	return append(append([]byte{flags}, byte(len(p)), byte(len(p)>>8)), p...)
}

// eq2FuzzErr fails unless err is nil or one of the package's sentinels.
func eq2FuzzErr(t *testing.T, err error) {
	if err == nil {
		return
	}
	if _, ok := err.(*Error); !ok {
		t.Fatalf("foreign error %T %v", err, err)
	}
}

// FuzzEQ2Receive drives both roles' Receive with arbitrary payload sequences:
// never a panic, nothing delivered beyond the inflate cap, every error a
// sentinel, and after an EQ2Fatal error the session counts as closed (the
// test stops feeding it). mode bit 0: the client gets a valid key request
// first; bit 1: the server gets a key packet first; bit 2: K64 0.
func FuzzEQ2Receive(f *testing.F) {
	kp := AppendEQ2KeyPacket(nil, eq2CaptureK64, EQ2KeyPacketLen)
	f.Add(byte(0), eq2FuzzChunk(0, AppendEQ2KeyRequest(nil)))
	f.Add(byte(0), eq2FuzzChunk(0, kp))
	f.Add(byte(3), eq2FuzzChunk(0, []byte{0xa3, 0x16, 0x2b}))
	f.Add(byte(3), eq2FuzzChunk(0, eq2Hex(f, "001904de79d9062144375f48d766046de6b30fe768f5623c0948156869e8d4bb9323b60692c7257bdc0b89f5abbf774dcb7d5043fe296e8e2740a10ac4bf269a2e382ca24e6327a9a432ba676575eed8bcee64c3b34e79217e0bb0f13f3ac716fbb66dc9b8776963f624b2d2b80d21a03a4a05c53d8e06802f64e28987")))
	f.Add(byte(7), append(eq2FuzzChunk(0, []byte{1, 0x58, 0xc3, 0x4b, 0x4c, 0x04, 0x02, 0, 0, 0, 0xff, 0xff}), eq2FuzzChunk(1, []byte{0, 0, 0x12, 1})...))
	f.Add(byte(7), eq2FuzzChunk(0, []byte{1, 0x58, 0xc3, 0xed, 0xc1, 0x01, 0x0d, 0, 0, 0, 0xc2, 0xa0, 0xf5, 0x4f, 0x6d, 0x0e, 0x37, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0x0c, 0, 0, 0xff, 0xff}))
	// A clear stream from eqgate's own server, for mutations to start from.
	{
		cfg := DefaultEQ2Config()
		cfg.CombineDelay = -1
		var c EQ2Coder
		var a EQ2App
		a.InitServer(&cfg, 0)
		p := &eq2Pipe{max: 512}
		if err := a.Receive(&c, AppendEQ2KeyPacket(nil, 0, EQ2KeyPacketLen), false, nil); err != nil {
			f.Fatal(err)
		}
		var seed []byte
		for _, m := range eq2Messages(300, 130, 40, 600, 300) {
			if err := a.Send(&c, 0, m, p); err != nil {
				f.Fatal(err)
			}
		}
		for i := range p.n {
			seed = append(seed, eq2FuzzChunk(0, p.bufs[i])...)
		}
		f.Add(byte(7), seed)
	}
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		cfg := DefaultEQ2Config()
		cfg.MaxInflate = 1 << 16
		var c EQ2Coder
		k64 := uint64(eq2CaptureK64)
		if mode&4 != 0 {
			k64 = 0
		}
		var srv, cl EQ2App
		srv.InitServer(&cfg, 0)
		if err := cl.InitClient(&cfg, k64, 0); err != nil {
			t.Fatal(err)
		}
		var sink eq2Sink
		if mode&1 != 0 {
			if err := cl.Receive(&c, AppendEQ2KeyRequest(nil), false, &sink); err != nil {
				t.Fatal(err)
			}
		}
		if mode&2 != 0 {
			if err := srv.Receive(&c, AppendEQ2KeyPacket(nil, k64, EQ2KeyPacketLen), false, &sink); err != nil {
				t.Fatal(err)
			}
		}
		check := &eq2CapSink{max: cfg.MaxInflate, t: t}
		srvOpen, clOpen := true, true
		// A keyed client in clear is compared with the strict reference:
		// whatever the reference inflates, the client delivers the same.
		var ref *refInflater
		if mode&5 == 5 {
			ref = &refInflater{window: EQ2Window}
		}
		eq2FuzzChunks(data, func(flags byte, p []byte) {
			frag := flags&1 != 0
			if srvOpen {
				err := srv.Receive(&c, bytes.Clone(p), frag, check)
				eq2FuzzErr(t, err)
				srvOpen = !EQ2Fatal(err)
			}
			if clOpen {
				var want [][]byte
				comparing, complete := ref != nil, false
				if comparing {
					want, complete = eq2RefUnits(ref, bytes.Clone(p))
					if !complete {
						ref = nil // the streams may part here
					}
				}
				check.got = check.got[:0]
				err := cl.Receive(&c, bytes.Clone(p), frag, check)
				eq2FuzzErr(t, err)
				clOpen = !EQ2Fatal(err)
				if comparing && (len(check.got) < len(want) || (complete && (err != nil || len(check.got) != len(want)))) {
					t.Fatalf("client delivered %d (%v), the reference %d (complete %v)", len(check.got), err, len(want), complete)
				}
				for i := range want {
					if !bytes.Equal(check.got[i], want[i]) {
						t.Fatalf("unit %d: client and reference differ", i)
					}
				}
			}
			if len(c.inf) > cfg.MaxInflate+1 {
				t.Fatalf("inflate buffer grew to %d, cap %d", len(c.inf), cfg.MaxInflate)
			}
			if len(cl.hist) > EQ2Window {
				t.Fatalf("history %d bytes", len(cl.hist))
			}
		})
	})
}

// eq2CapSink fails on a delivery above the inflate cap or an outgoing
// payload other than the key packet and what waited for it, and keeps
// what was delivered.
type eq2CapSink struct {
	max int
	t   *testing.T
	got [][]byte
}

func (s *eq2CapSink) EQ2Deliver(p []byte) {
	if len(p) > s.max {
		s.t.Fatalf("delivered %d bytes, cap %d", len(p), s.max)
	}
	s.got = append(s.got, bytes.Clone(p))
}

// eq2RefUnits decodes a clear server payload as SPEC §22.6 describes, with
// the reference inflater: the packets it carries, and whether every unit
// decoded (false from the first unit that does not; the reference also
// refuses a final block, which EQ2 streams never send).
func eq2RefUnits(ref *refInflater, p []byte) ([][]byte, bool) {
	if len(p) == 0 {
		return nil, false
	}
	units := [][]byte{p}
	if isAppCombined(p) {
		units = nil
		it := NewAppCombinedIter(p)
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			units = append(units, e)
		}
		if it.Err() != nil {
			return nil, false // the client may deliver the units before the overrun
		}
	}
	var out [][]byte
	for _, u := range units {
		if u[0] == 0 {
			if len(u) < 2 || u[1] != 0 {
				return out, false
			}
			u = u[1:]
		}
		switch u[0] {
		case 0:
			if len(u) > 1 {
				out = append(out, u[1:])
			}
		case 1:
			z := u[1:]
			if !ref.header {
				if len(z) < 2 || !eq2ZlibHeaderOK(z[0], z[1]) {
					return out, false
				}
				z, ref.header = z[2:], true
			}
			if len(z) < 4 || !bytes.HasSuffix(z, eq2SyncFlush[:]) {
				return out, false
			}
			got, err := ref.packet(z)
			if err != nil || ref.final || len(got) > 1<<16 {
				return out, false
			}
			out = append(out, bytes.Clone(got))
		default:
			return out, false
		}
	}
	return out, true
}

func (s *eq2CapSink) EQ2Send(p []byte) {
	if len(p) != EQ2KeyPacketLen || p[0] != EQ2OpKeyRequest {
		s.t.Fatalf("sent %x while receiving", p)
	}
}

// FuzzEQ2RoundTrip sends arbitrary application packets through both
// directions, server with its combine timer at arbitrary times: everything
// arrives once, in order, byte-exact; with K64 0 (mode bit 0) every deflated
// payload also inflates with the strict 8 KiB reference.
func FuzzEQ2RoundTrip(f *testing.F) {
	f.Add(byte(0), eq2FuzzChunk(3, []byte{0x12, 0, 0}))
	f.Add(byte(1), append(eq2FuzzChunk(0, bytes.Repeat([]byte("<eq2 s0 i1>"), 30)), eq2FuzzChunk(9, []byte{0xff, 0xa4, 1, 1})...))
	f.Add(byte(0), eq2FuzzChunk(200, bytes.Repeat([]byte{0, 0x19}, 700)))
	f.Fuzz(func(t *testing.T, mode byte, data []byte) {
		cfg := DefaultEQ2Config()
		cfg.Filler = []byte{0x7f, 0xf1, 0x11, 0xe2, 0x12}
		var sc, cc EQ2Coder
		k64 := uint64(eq2CaptureK64)
		if mode&1 != 0 {
			k64 = 0
		}
		srv := eq2KeyedServer(t, &cfg, &sc, k64)
		cl := eq2KeyedClient(t, &cfg, &cc, k64)
		cl.SetMaxPacket(512)
		var apps [][]byte
		down := &eq2Pipe{max: 512}
		up := &eq2Pipe{max: 512}
		now := Nanotime(0)
		eq2FuzzChunks(data, func(flags byte, p []byte) {
			if len(p) == 0 || bytes.Equal(p, cfg.Filler) {
				return
			}
			apps = append(apps, p)
			if err := srv.Send(&sc, now, p, down); err != nil {
				t.Fatal(err)
			}
			if err := cl.Send(&cc, now, p, up); err != nil {
				t.Fatal(err)
			}
			now += Nanotime(flags) * eq2ms
			srv.Tick(&sc, now, down)
		})
		srv.Flush(&sc, down)

		ref := &refInflater{window: EQ2Window}
		var got eq2Recorder
		for i := range down.n {
			p := bytes.Clone(down.bufs[i])
			if k64 == 0 {
				eq2RefCheck(t, ref, p)
			}
			if err := cl.Receive(&cc, p, down.frag[i], &got); err != nil {
				t.Fatalf("client: %v", err)
			}
		}
		eq2SameApps(t, "server to client", got.delivered, apps, nil)
		got = eq2Recorder{}
		for i := range up.n {
			if err := srv.Receive(&sc, up.bufs[i], up.frag[i], &got); err != nil {
				t.Fatalf("server: %v", err)
			}
		}
		eq2SameApps(t, "client to server", got.delivered, apps, cfg.Filler)
	})
}

func eq2SameApps(t *testing.T, dir string, got, want [][]byte, filler []byte) {
	t.Helper()
	var kept [][]byte
	for _, g := range got {
		if filler == nil || !bytes.Equal(g, filler) {
			kept = append(kept, g)
		}
	}
	if len(kept) != len(want) {
		t.Fatalf("%s: %d delivered, %d sent", dir, len(kept), len(want))
	}
	for i := range want {
		if !bytes.Equal(kept[i], want[i]) {
			t.Fatalf("%s: packet %d differs", dir, i)
		}
	}
}

// eq2RefCheck inflates the deflated units of a clear server payload with
// the strict reference.
func eq2RefCheck(t *testing.T, ref *refInflater, p []byte) {
	t.Helper()
	if _, ok := eq2RefUnits(ref, p); !ok {
		t.Fatalf("strict 8 KiB reference refused payload %x…", p[:min(16, len(p))])
	}
}
