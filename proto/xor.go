package proto

import "encoding/binary"

// The XOR pass works on 32-bit little-endian blocks whose key chains on the
// ciphertext (SPEC §8.3). Both directions below take 8 bytes per step: two
// blocks a (low half) and b (high half) with incoming key k give
//
//	encode: a' = a^k,   b' = b^a' = (a^b)^k,  next key b'
//	decode: a  = a'^k,  b  = b'^a',           next key b'
//
// Encoding computes a^b off the critical path, so the key chain costs one
// XOR per 8 bytes; decoding has no chain beyond the loads. The
// `for len(r) >= 8 { ...; r = r[8:] }` shape lets the compiler drop the
// bounds checks.

// XOREncode applies the XOR pass (SPEC §8.3) to region in place: 32-bit
// little-endian blocks XORed with a key that chains on the ciphertext, then
// the tail bytes XORed with the low byte of the last key.
func XOREncode(region []byte, key uint32) {
	k := key
	r := region
	for len(r) >= 8 {
		v := binary.LittleEndian.Uint64(r)
		a := uint32(v) ^ k
		k ^= uint32(v) ^ uint32(v>>32)
		binary.LittleEndian.PutUint64(r, uint64(a)|uint64(k)<<32)
		r = r[8:]
	}
	if len(r) >= 4 {
		k ^= binary.LittleEndian.Uint32(r)
		binary.LittleEndian.PutUint32(r, k)
		r = r[4:]
	}
	kc := byte(k)
	for i := range r {
		r[i] ^= kc
	}
}

// XORDecode undoes XOREncode in place.
func XORDecode(region []byte, key uint32) {
	k := uint64(key)
	r := region
	for len(r) >= 8 {
		w := binary.LittleEndian.Uint64(r)
		binary.LittleEndian.PutUint64(r, w^(w<<32|k))
		k = w >> 32
		r = r[8:]
	}
	if len(r) >= 4 {
		w := uint64(binary.LittleEndian.Uint32(r))
		binary.LittleEndian.PutUint32(r, uint32(w^k))
		k = w
		r = r[4:]
	}
	kc := byte(k)
	for i := range r {
		r[i] ^= kc
	}
}
