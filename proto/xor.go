package proto

import "encoding/binary"

// XOREncode applies the XOR pass (SPEC §8.3) to region in place: 32-bit
// little-endian blocks XORed with a key that chains on the ciphertext, then
// the tail bytes XORed with the low byte of the last key.
func XOREncode(region []byte, key uint32) {
	k := key
	i := 0
	for ; i+4 <= len(region); i += 4 {
		w := binary.LittleEndian.Uint32(region[i:]) ^ k
		binary.LittleEndian.PutUint32(region[i:], w)
		k = w
	}
	kc := byte(k)
	for ; i < len(region); i++ {
		region[i] ^= kc
	}
}

// XORDecode undoes XOREncode in place.
func XORDecode(region []byte, key uint32) {
	k := key
	i := 0
	for ; i+4 <= len(region); i += 4 {
		c := binary.LittleEndian.Uint32(region[i:])
		binary.LittleEndian.PutUint32(region[i:], c^k)
		k = c
	}
	kc := byte(k)
	for ; i < len(region); i++ {
		region[i] ^= kc
	}
}
