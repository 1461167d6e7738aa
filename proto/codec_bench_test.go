package proto

import (
	"testing"
)

// Benchmarks for the per-datagram costs. Scripts find them by name:
// BenchmarkCRC512, BenchmarkParseData64, BenchmarkBuildData64.
//
//	go test ./proto -run '^$' -bench 'CRC|XOR|ParseData|BuildData|Flate' -benchtime 1s -count 3

func codecBenchParams(b *testing.B, passes [2]int) Params {
	b.Helper()
	return codecParams(b, 0x12345678, 2, passes, 0)
}

func benchmarkCRC(b *testing.B, n int) {
	p := codecBenchParams(b, [2]int{})
	data := codecDataPacket(n)
	b.ReportAllocs()
	b.SetBytes(int64(n))
	var sum uint32
	for b.Loop() {
		sum += codecCRCWithParams(&p, data)
	}
	codecSinkSeq = Seq(sum)
}

func BenchmarkCRC64(b *testing.B)  { benchmarkCRC(b, 64) }
func BenchmarkCRC512(b *testing.B) { benchmarkCRC(b, 512) }

func benchmarkXOR(b *testing.B, n int) {
	data := codecDataPacket(n)
	b.ReportAllocs()
	b.SetBytes(int64(n))
	for b.Loop() {
		XOREncode(data, 0x12345678)
	}
	codecSinkBytes = data
}

func BenchmarkXOR64(b *testing.B)  { benchmarkXOR(b, 64) }
func BenchmarkXOR512(b *testing.B) { benchmarkXOR(b, 512) }

// benchmarkParseData measures the receive path of one data datagram of n
// bytes on the wire: verify the CRC, undo the XOR pass, read the header.
func benchmarkParseData(b *testing.B, n int) {
	p := codecBenchParams(b, [2]int{4, 0})
	var c Coder
	wire := c.AppendEncode(&p, nil, codecDataPacket(n-p.CRCBytes))
	if len(wire) != n {
		b.Fatalf("wire is %d bytes", len(wire))
	}
	rx := make([]byte, n)
	b.ReportAllocs()
	b.SetBytes(int64(n))
	for b.Loop() {
		copy(rx, wire) // Decode works in place, as on a receive buffer
		d, err := c.Decode(&p, rx)
		if err != nil {
			b.Fatal(err)
		}
		_, _, seq, err := ParseSeq(d)
		if err != nil {
			b.Fatal(err)
		}
		codecSinkSeq = seq
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
}

func BenchmarkParseData64(b *testing.B)  { benchmarkParseData(b, 64) }
func BenchmarkParseData512(b *testing.B) { benchmarkParseData(b, 512) }

// benchmarkBuildData measures the send path: build OP_Packet around a
// payload, apply the XOR pass and append the CRC, into a reused buffer.
func benchmarkBuildData(b *testing.B, n int) {
	p := codecBenchParams(b, [2]int{4, 0})
	var c Coder
	payload := codecDataPacket(n - p.CRCBytes)[SeqHeaderLen:]
	pkt := make([]byte, 0, 2048)
	out := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(n))
	seq := Seq(0)
	for b.Loop() {
		pkt = AppendPacket(pkt[:0], 0, seq, payload)
		out = c.AppendEncode(&p, out[:0], pkt)
		seq++
	}
	if len(out) != n {
		b.Fatalf("built %d bytes, want %d", len(out), n)
	}
	codecSinkBytes = out
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pps")
}

func BenchmarkBuildData64(b *testing.B)  { benchmarkBuildData(b, 64) }
func BenchmarkBuildData512(b *testing.B) { benchmarkBuildData(b, 512) }

// BenchmarkFlateEncode512 is the send path of a 512-byte data packet with the
// compression pass (RS zone default [1,0]) and the CRC.
func BenchmarkFlateEncode512(b *testing.B) {
	p := codecBenchParams(b, [2]int{1, 0})
	var c Coder
	pkt := codecDataPacket(512)
	out := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		out = c.AppendEncode(&p, out[:0], pkt)
	}
	if len(out) >= len(pkt) {
		b.Fatalf("not deflated: %d bytes", len(out))
	}
	codecSinkBytes = out
}

// BenchmarkFlateDecode512 is the receive path of the same datagram.
func BenchmarkFlateDecode512(b *testing.B) {
	p := codecBenchParams(b, [2]int{1, 0})
	var c Coder
	pkt := codecDataPacket(512)
	wire := c.AppendEncode(&p, nil, pkt)
	rx := make([]byte, len(wire))
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		copy(rx, wire)
		d, err := c.Decode(&p, rx)
		if err != nil || len(d) != len(pkt) {
			b.Fatal(len(d), err)
		}
		codecSinkBytes = d
	}
}
