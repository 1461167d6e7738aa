//go:build zlibref && cgo

package zlibref

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/eqgate/eqgate/bench"
	"github.com/eqgate/eqgate/proto"
)

// params is the compress pass alone with no CRC trailer, as in the
// datagrams Compress and Decompress take.
func params(t testing.TB) proto.Params {
	t.Helper()
	p, err := proto.NewParams(0x12345678, 0, [2]proto.Pass{proto.PassCompress, proto.PassNone}, proto.MaxDatagram)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// packets returns count OP_Packet datagrams carrying eqbench's payloads of
// n bytes with fill, each a different message (sequence number).
func packets(fill bench.Fill, n, count int) [][]byte {
	pkts := make([][]byte, count)
	for i := range pkts {
		pkts[i] = proto.AppendPacket(nil, 0, proto.Seq(i), bench.Payload(nil, fill, 7, uint32(i), n))
	}
	return pkts
}

var (
	fills = []bench.Fill{bench.FillGame, bench.FillRandom}
	sizes = []int{12, 27, 64, 200, 420, 1024}
)

// TestEQEmuInflatesCoder: what the Coder sends at every level, EQEmu's
// Decompress (C zlib's inflate, a fresh stream each) turns back into the
// packet, and some of it was deflated (flag 0x5a), not sent raw.
func TestEQEmuInflatesCoder(t *testing.T) {
	t.Logf("C zlib %s", Version())
	p := params(t)
	deflated := 0
	for _, fill := range fills {
		for _, n := range sizes {
			for _, pkt := range packets(fill, n, 16) {
				for l := proto.CompressLevel(0); l.Valid(); l++ {
					var c proto.Coder
					if err := c.SetCompressLevel(l); err != nil {
						t.Fatal(err)
					}
					wire := c.AppendEncode(&p, nil, pkt)
					if wire[2] == 0x5a {
						deflated++
					}
					got, ok := Decompress(nil, wire)
					if !ok || !bytes.Equal(got, pkt) {
						t.Fatalf("%v %d B at %v: EQEmu's Decompress: ok %v, %d bytes back of %d", fill, n, l, ok, len(got), len(pkt))
					}
				}
			}
		}
	}
	if deflated == 0 {
		t.Fatal("no datagram was deflated: nothing reached C zlib's inflate")
	}
	t.Logf("%d deflated datagrams inflated in C zlib", deflated)
}

// TestCoderInflatesEQEmu: what EQEmu's Compress sends, the reliable
// stream's (C zlib level 1, 0x5a only when shorter) and the older level-4
// one (lazy matches, and 0x5a streams longer than the region for
// incompressible ones), the Coder decodes to the packet. C zlib's dynamic
// blocks must be among them, or the Coder's dynamic decoder was not tried.
func TestCoderInflatesEQEmu(t *testing.T) {
	p := params(t)
	var c proto.Coder
	var blockTypes [4]int
	for _, fill := range fills {
		for _, n := range sizes {
			for _, pkt := range packets(fill, n, 16) {
				legacy, ok := CompressLegacy(nil, pkt)
				if !ok {
					t.Fatalf("%v %d B: C zlib failed", fill, n)
				}
				for _, wire := range [][]byte{Compress(nil, pkt), legacy} {
					if wire[2] == 0x5a {
						blockTypes[wire[5]>>1&3]++ // first block's BTYPE, after the zlib header
					}
					got, err := c.Decode(&p, wire)
					if err != nil || !bytes.Equal(got, pkt) {
						t.Fatalf("%v %d B: Decode of EQEmu's datagram: %v, %d bytes back of %d", fill, n, err, len(got), len(pkt))
					}
				}
			}
		}
	}
	t.Logf("C zlib's first blocks: stored %d, fixed %d, dynamic %d", blockTypes[0], blockTypes[1], blockTypes[2])
	if blockTypes[2] == 0 || blockTypes[1] == 0 {
		t.Fatalf("block types %v: want fixed and dynamic blocks from C zlib", blockTypes)
	}
}

// BenchmarkCodec is one datagram's compress pass on both halves of an echo:
// the sender compresses it, the receiver decompresses it (the datagram
// copied in first, as from a socket). eqgate is the Coder at each level;
// eqemu is the reliable stream's calls into C zlib (level 1), eqemu-legacy
// the older level-4 ones. The 16 messages cycled
// are eqbench's payloads; "ratio" is wire bytes over the packet's bytes.
//
//	go test -tags zlibref ./bench/zlibref -run '^$' -bench Codec -count 6
func BenchmarkCodec(b *testing.B) {
	for _, fill := range fills {
		for _, n := range []int{64, 200, 420, 1024} {
			pkts := packets(fill, n, 16)
			for l := proto.CompressLevel(0); l.Valid(); l++ {
				b.Run(fmt.Sprintf("%v/%d/eqgate-%v", fill, n, l), func(b *testing.B) {
					p := params(b)
					var c proto.Coder
					if err := c.SetCompressLevel(l); err != nil {
						b.Fatal(err)
					}
					out := make([]byte, 0, 2*n+64)
					rx := make([]byte, 0, cap(out))
					wire, i := 0, 0
					b.ReportAllocs()
					for b.Loop() {
						pkt := pkts[i%len(pkts)]
						out = c.AppendEncode(&p, out[:0], pkt)
						rx = append(rx[:0], out...)
						got, err := c.Decode(&p, rx)
						if err != nil || len(got) != len(pkt) {
							b.Fatal(len(got), err)
						}
						wire += len(out) - len(pkt)
						i++
					}
					b.ReportMetric(1+float64(wire)/float64(i*len(pkts[0])), "ratio")
				})
			}
			for _, legacy := range []bool{false, true} {
				name := "eqemu"
				if legacy {
					name = "eqemu-legacy"
				}
				b.Run(fmt.Sprintf("%v/%d/%s", fill, n, name), func(b *testing.B) {
					out := make([]byte, 0, 2*n+legacyBuf)
					rx := make([]byte, 0, cap(out))
					back := make([]byte, 0, decompressBuf+64)
					wire, i := 0, 0
					b.ReportAllocs()
					for b.Loop() {
						pkt := pkts[i%len(pkts)]
						if legacy {
							var ok bool
							if out, ok = CompressLegacy(out[:0], pkt); !ok {
								b.Fatal("deflate failed")
							}
						} else {
							out = Compress(out[:0], pkt)
						}
						rx = append(rx[:0], out...)
						got, ok := Decompress(back[:0], rx)
						if !ok || len(got) != len(pkt) {
							b.Fatal(len(got), ok)
						}
						wire += len(out) - len(pkt)
						i++
					}
					b.ReportMetric(1+float64(wire)/float64(i*len(pkts[0])), "ratio")
				})
			}
		}
	}
}

// BenchmarkDecode is the receiving half alone, on the datagrams the Coder
// sends at the default level (dynamic codes from 384 bytes where they pay):
// the Coder's inflater against C zlib's, which EQEmu's clients and servers
// run on them.
//
//	go test -tags zlibref ./bench/zlibref -run '^$' -bench Decode -count 6
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{200, 420, 1024} {
		p := params(b)
		var c proto.Coder
		pkts := packets(bench.FillGame, n, 16)
		wires := make([][]byte, len(pkts))
		for i, pkt := range pkts {
			wires[i] = c.AppendEncode(&p, nil, pkt)
		}
		rx := make([]byte, 0, 2*n+64)
		b.Run(fmt.Sprintf("game/%d/eqgate", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				rx = append(rx[:0], wires[i%len(wires)]...)
				if got, err := c.Decode(&p, rx); err != nil || len(got) != len(pkts[i%len(pkts)]) {
					b.Fatal(len(got), err)
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("game/%d/zlib", n), func(b *testing.B) {
			back := make([]byte, 0, decompressBuf+64)
			i := 0
			for b.Loop() {
				rx = append(rx[:0], wires[i%len(wires)]...)
				if got, ok := Decompress(back[:0], rx); !ok || len(got) != len(pkts[i%len(pkts)]) {
					b.Fatal(len(got), ok)
				}
				i++
			}
		})
	}
}

// FuzzCZlibInflate: on any stream after the 0x5a flag, the Coder and C
// zlib (EQEmu's Decompress, as EQ clients and servers inflate) agree. What
// C zlib inflates, the Coder inflates to the same bytes, so no datagram a
// real peer accepts is dropped here; what C zlib refuses, the Coder refuses,
// except output past EQEmu's 4 KiB buffer, which the Coder takes up to
// proto.MaxInflate.
func FuzzCZlibInflate(f *testing.F) {
	for _, fill := range fills {
		for _, n := range []int{64, 420} {
			for _, pkt := range packets(fill, n, 2) {
				var c proto.Coder
				p := params(f)
				if wire := c.AppendEncode(&p, nil, pkt); wire[2] == 0x5a {
					f.Add(wire[3:])
				}
				if wire := Compress(nil, pkt); wire[2] == 0x5a {
					f.Add(wire[3:])
				}
				if wire, _ := CompressLegacy(nil, pkt); wire[2] == 0x5a {
					f.Add(wire[3:])
				}
			}
		}
	}
	p := params(f)
	var c proto.Coder
	f.Fuzz(func(t *testing.T, z []byte) {
		dgram := append([]byte{0, byte(proto.OpPacket), 0x5a}, z...)
		want, cOK := Decompress(nil, dgram)
		got, err := c.Decode(&p, append([]byte(nil), dgram...))
		switch {
		case cOK && err != nil:
			t.Fatalf("C zlib inflates %d bytes, the Coder refuses: %v", len(want)-2, err)
		case cOK && !bytes.Equal(got, want):
			t.Fatalf("C zlib and the Coder inflate different bytes (%d and %d)", len(want), len(got))
		case !cOK && err == nil && len(got)-2 < decompressBuf:
			t.Fatalf("C zlib refuses, the Coder inflates %d bytes", len(got)-2)
		}
	})
}
