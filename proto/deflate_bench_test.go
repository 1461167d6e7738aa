package proto

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	kflate "github.com/klauspost/compress/flate"
	kzlib "github.com/klauspost/compress/zlib"
)

// BenchmarkEncoding is what one message costs the codec with each encoding:
// the send side (AppendEncode of an OP_Packet carrying the message) plus the
// receive side (Decode of that datagram, copied in first as from a socket),
// the two halves of an echo. "ratio" is the datagram's length over its
// length with no passes, so speed and size are read side by side.
//
//	go test ./proto -run '^$' -bench 'Encoding' -count 10
//
// Payloads: "game" is struct-like game traffic (ids, coordinates, zero
// padding, names; deflates to about a third), "random" is incompressible
// (what eqbench's fill is: compression tries and falls back to a5).
func BenchmarkEncoding(b *testing.B) {
	encodings := []struct {
		name   string
		passes [2]int
	}{
		{"none", [2]int{0, 0}},
		{"xor", [2]int{4, 0}},
		{"compress", [2]int{1, 0}},
		{"compress+xor", [2]int{1, 4}},
		{"xor+compress", [2]int{4, 1}},
	}
	for _, enc := range encodings {
		for _, size := range []int{64, 200, 1024} {
			for _, kind := range []string{"game", "random"} {
				name := fmt.Sprintf("%s/%d/%s", enc.name, size, kind)
				b.Run(name, func(b *testing.B) {
					benchmarkEncoding(b, enc.passes, benchPayload(kind, size, 0))
				})
			}
		}
	}
}

func benchmarkEncoding(b *testing.B, passes [2]int, payload []byte) {
	benchmarkEncodingAt(b, passes, payload, CompressDefault)
}

// BenchmarkCompressLevels is BenchmarkEncoding's compress row at each
// CompressLevel, on game messages around the datagram sizes eqbench's
// 200-byte echo load produces (two messages a datagram).
//
//	go test ./proto -run '^$' -bench 'CompressLevels' -count 10
func BenchmarkCompressLevels(b *testing.B) {
	for l := range numCompressLevels {
		for _, size := range []int{200, 420, 500} {
			b.Run(fmt.Sprintf("%v/%d", l, size), func(b *testing.B) {
				benchmarkEncodingAt(b, [2]int{1, 0}, benchPayload("game", size, 0), l)
			})
		}
	}
}

func benchmarkEncodingAt(b *testing.B, passes [2]int, payload []byte, level CompressLevel) {
	p := codecBenchParams(b, passes)
	var c Coder
	if err := c.SetCompressLevel(level); err != nil {
		b.Fatal(err)
	}
	pkt := AppendPacket(nil, 0, 0x1234, payload)
	out := make([]byte, 0, 2*len(pkt)+64)
	rx := make([]byte, 0, cap(out))
	var wire int
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		out = c.AppendEncode(&p, out[:0], pkt)
		rx = append(rx[:0], out...)
		d, err := c.Decode(&p, rx)
		if err != nil || len(d) != len(pkt) {
			b.Fatal(len(d), err)
		}
		wire = len(out)
	}
	b.ReportMetric(float64(wire)/float64(len(pkt)+p.CRCBytes), "ratio")
}

// benchPayload returns a deterministic application message of n bytes.
// Its first byte is never 0, so no zero-escape is involved.
func benchPayload(kind string, n int, seed uint64) []byte {
	b := make([]byte, n)
	switch kind {
	case "random":
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	case "game":
		gameFill(b, seed)
	default:
		panic("unknown payload kind " + kind)
	}
	b[0] |= 0x40
	return b
}

// gameFill writes records shaped like the spawn and position structs of EQ
// zone traffic: a 2-byte opcode, then 48-byte records of an entity id, three
// float32 coordinates, a heading, a few small counters, a name on one record
// in four, and zero padding.
func gameFill(b []byte, seed uint64) {
	names := []string{"Soandso", "Guard_Ilsin", "a_fire_beetle", "Fippy_Darkpaw"}
	binary.LittleEndian.PutUint16(b, 0x4656)
	for r, off := 0, 2; off < len(b); r, off = r+1, off+48 {
		rec := make([]byte, 48)
		binary.LittleEndian.PutUint32(rec[0:], uint32(1000+int(seed)+r))
		binary.LittleEndian.PutUint32(rec[4:], math.Float32bits(float32(-120.5+float64(r)*3.25)))
		binary.LittleEndian.PutUint32(rec[8:], math.Float32bits(float32(88.0-float64(r)*1.5)))
		binary.LittleEndian.PutUint32(rec[12:], math.Float32bits(float32(3.75)))
		binary.LittleEndian.PutUint16(rec[16:], uint16(r*97%512))
		rec[18] = byte(r % 3)
		rec[20] = 100 // hp percent
		rec[21] = byte(1 + r%60)
		if r%4 == 0 {
			copy(rec[24:], names[r/4%len(names)])
		}
		copy(b[off:], rec)
	}
}

// BenchmarkDeflaters compares the encoder with klauspost/compress's options
// on one region (encode only), to choose by measurement: its level-1 zlib
// writer reused through Reset, and its stateless deflate (the codec's
// encoder before issue 15) with the same zlib framing.
//
//	go test ./proto -run '^$' -bench 'Deflaters' -count 10
func BenchmarkDeflaters(b *testing.B) {
	for _, size := range []int{64, 200, 500, 1024} {
		in := benchPayload("game", size, 0)
		b.Run(fmt.Sprintf("eqgate/%d", size), func(b *testing.B) {
			var d deflater
			var z []byte
			for b.Loop() {
				z = d.deflate(in)
			}
			b.ReportMetric(float64(len(z))/float64(size), "ratio")
		})
		b.Run(fmt.Sprintf("klauspost-zlib-level1-reset/%d", size), func(b *testing.B) {
			var out sliceWriter
			zw, err := kzlib.NewWriterLevel(&out, kzlib.BestSpeed)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				out.b = out.b[:0]
				zw.Reset(&out)
				zw.Write(in)
				zw.Close()
			}
			b.ReportMetric(float64(len(out.b))/float64(size), "ratio")
		})
		b.Run(fmt.Sprintf("klauspost-stateless/%d", size), func(b *testing.B) {
			var out sliceWriter
			for b.Loop() {
				out.b = append(out.b[:0], 0x78, 0x01)
				if err := kflate.StatelessDeflate(&out, in, true, nil); err != nil {
					b.Fatal(err)
				}
				out.b = binary.BigEndian.AppendUint32(out.b, adler32Sum(in))
			}
			b.ReportMetric(float64(len(out.b))/float64(size), "ratio")
		})
	}
}

// BenchmarkInflate is the inflater alone on game regions: 200 bytes take
// the fixed codes, 1024 bytes a dynamic code whose tables are built per
// stream (the encoder picks it from 384 bytes).
//
//	go test ./proto -run '^$' -bench 'Inflate' -count 10
func BenchmarkInflate(b *testing.B) {
	for _, size := range []int{200, 1024} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			src := benchPayload("game", size, 0)
			var d deflater
			z := append([]byte(nil), d.deflate(src)...)
			if z == nil {
				b.Fatal("not deflated")
			}
			var f inflater
			out := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				n, err := f.inflate(out, z)
				if err != nil || n != size {
					b.Fatal(n, err)
				}
			}
		})
	}
}
