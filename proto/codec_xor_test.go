package proto

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// codecSlowXOREncode is SPEC §8.3's encode pseudocode, block by block.
func codecSlowXOREncode(r []byte, key uint32) {
	k := key
	i := 0
	for ; i+4 <= len(r); i += 4 {
		w := binary.LittleEndian.Uint32(r[i:]) ^ k
		binary.LittleEndian.PutUint32(r[i:], w)
		k = w
	}
	for ; i < len(r); i++ {
		r[i] ^= byte(k)
	}
}

// TestCodecXORMatchesReference holds the 8-byte-step XOR to the SPEC's
// 4-byte pseudocode for every length up to 70 and random keys, both ways.
func TestCodecXORMatchesReference(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for n := 0; n <= 70; n++ {
		for range 20 {
			key := rng.Uint32()
			if n%3 == 0 {
				key = [3]uint32{0, 0xffffffff, 0x12345678}[n%9/3]
			}
			plain := make([]byte, n)
			for i := range plain {
				plain[i] = byte(rng.Uint32())
			}
			want := bytes.Clone(plain)
			codecSlowXOREncode(want, key)
			got := bytes.Clone(plain)
			XOREncode(got, key)
			if !bytes.Equal(got, want) {
				t.Fatalf("n=%d key=%#x: XOREncode(%x) = %x, want %x", n, key, plain, got, want)
			}
			XORDecode(got, key)
			if !bytes.Equal(got, plain) {
				t.Fatalf("n=%d key=%#x: XORDecode gives %x, want %x", n, key, got, plain)
			}
		}
	}
}
