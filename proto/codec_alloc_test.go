package proto

import (
	"bytes"
	"testing"
)

// Sinks keep the compiler from discarding the work under measurement.
var (
	codecSinkBytes []byte
	codecSinkSeq   Seq
	codecSinkErr   error
)

// codecDataPacket returns a decoded OP_Packet of n bytes on stream 0 with an
// application payload of printable bytes.
func codecDataPacket(n int) []byte {
	payload := make([]byte, n-SeqHeaderLen)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	payload[0], payload[1] = 0x47, 0x02 // opcode 0x0247: no zero-escape needed
	return AppendPacket(nil, 0, 0x1234, payload)
}

func TestCodecNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	cases := []struct {
		name   string
		passes [2]int
		size   int
	}{
		{"crc_xor_64", [2]int{4, 0}, 64},
		{"crc_only_64", [2]int{0, 0}, 64},
		{"crc_xor_512", [2]int{4, 0}, 512},
		// Regions of 30 bytes or fewer only get the a5 flag: no zlib.
		{"crc_compress_xor_flag_only_32", [2]int{1, 4}, 32},
		{"crc_xor_compress_flag_only_24", [2]int{4, 1}, 24},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := codecParams(t, 0x12345678, 2, tc.passes, 0)
			var c Coder
			pkt := codecDataPacket(tc.size)
			wire := c.AppendEncode(&p, nil, pkt)
			if tc.passes[0] == 1 || tc.passes[1] == 1 {
				if len(wire) != len(pkt)+1+2 {
					t.Fatalf("expected the flag-only path, got %d wire bytes", len(wire))
				}
			}
			buf := make([]byte, 0, 2048)
			rx := make([]byte, len(wire))
			// Warm up (scratch buffers grow once).
			codecSinkBytes = c.AppendEncode(&p, buf[:0], pkt)
			if n := testing.AllocsPerRun(1000, func() {
				codecSinkBytes = c.AppendEncode(&p, buf[:0], pkt)
			}); n != 0 {
				t.Errorf("AppendEncode: %v allocs per run", n)
			}
			if !bytes.Equal(codecSinkBytes, wire) {
				t.Fatal("AppendEncode into a reused buffer differs")
			}
			if n := testing.AllocsPerRun(1000, func() {
				copy(rx, wire) // Decode works in place
				d, err := c.Decode(&p, rx)
				_, _, seq, err2 := ParseSeq(d)
				codecSinkBytes, codecSinkSeq, codecSinkErr = d, seq, err
				if err2 != nil {
					codecSinkErr = err2
				}
			}); n != 0 {
				t.Errorf("Decode+ParseSeq: %v allocs per run", n)
			}
			if codecSinkErr != nil || !bytes.Equal(codecSinkBytes, pkt) || codecSinkSeq != 0x1234 {
				t.Fatalf("decode gave %x, %v", codecSinkBytes, codecSinkErr)
			}
		})
	}
}

// TestCodecNoAllocsCompressed covers the zlib paths: once the Coder's
// reader, writer and scratch buffers exist, deflate and inflate allocate
// nothing either.
func TestCodecNoAllocsCompressed(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := codecParams(t, 0x12345678, 2, [2]int{1, 4}, 0)
	var c Coder
	pkt := codecDataPacket(512)
	wire := c.AppendEncode(&p, nil, pkt)
	if len(wire) >= len(pkt) {
		t.Fatalf("512-byte packet not deflated: %d wire bytes", len(wire))
	}
	buf := make([]byte, 0, 2048)
	rx := make([]byte, len(wire))
	if n := testing.AllocsPerRun(200, func() {
		codecSinkBytes = c.AppendEncode(&p, buf[:0], pkt)
	}); n != 0 {
		t.Errorf("AppendEncode with deflate: %v allocs per run", n)
	}
	if n := testing.AllocsPerRun(200, func() {
		copy(rx, wire)
		codecSinkBytes, codecSinkErr = c.Decode(&p, rx)
	}); n != 0 {
		t.Errorf("Decode with inflate: %v allocs per run", n)
	}
	if codecSinkErr != nil || !bytes.Equal(codecSinkBytes, pkt) {
		t.Fatalf("decode gave %x, %v", codecSinkBytes, codecSinkErr)
	}
	// A hostile stream with a bad zlib header must not allocate either.
	p0 := codecParams(t, 0x12345678, 0, [2]int{1, 0}, 0)
	junk := []byte{0x00, 0x09, 0x5a, 0x12, 0x34, 0x56, 0x78}
	rxj := make([]byte, len(junk))
	if n := testing.AllocsPerRun(200, func() {
		copy(rxj, junk)
		codecSinkBytes, codecSinkErr = c.Decode(&p0, rxj)
	}); n != 0 {
		t.Errorf("Decode of a bad zlib stream: %v allocs per run", n)
	}
	if ReasonOf(codecSinkErr) != ReasonInflate {
		t.Fatalf("bad zlib stream: %v", codecSinkErr)
	}
}
