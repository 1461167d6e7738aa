package proto

import "hash/crc32"

// CRC is the keyed CRC-32 of SPEC §7.1: standard reflected CRC-32 (IEEE) run
// first over K's four bytes least-significant first, then over data.
// Hot paths use Params.crcSeed instead, which holds the state after the key
// bytes so they are not hashed for every datagram.
func CRC(key uint32, data []byte) uint32 {
	return crc32.Update(crcSeed(key), crc32.IEEETable, data)
}

// crcSeed is crc32.Update(0, IEEETable, LE32(key)), by the table a byte at
// a time: through crc32.Update the key bytes would escape to the heap, and
// the stateless handshake derives a seed for every unknown datagram.
func crcSeed(key uint32) uint32 {
	c := ^uint32(0)
	for range 4 {
		c = crc32.IEEETable[byte(c)^byte(key)] ^ c>>8
		key >>= 8
	}
	return ^c
}

// appendCRC appends the crcBytes-long trailer (SPEC §7.3) of crc, big-endian:
// the low 16 bits for 2, all 32 for 4, nothing for 0.
func appendCRC(b []byte, crc uint32, crcBytes int) []byte {
	switch crcBytes {
	case 2:
		return append(b, byte(crc>>8), byte(crc))
	case 4:
		return append(b, byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc))
	}
	return b
}

// trailerMatches reports whether the trailer t (crcBytes long) carries crc.
func trailerMatches(t []byte, crc uint32) bool {
	switch len(t) {
	case 2:
		return uint16(t[0])<<8|uint16(t[1]) == uint16(crc)
	case 4:
		return uint32(t[0])<<24|uint32(t[1])<<16|uint32(t[2])<<8|uint32(t[3]) == crc
	}
	return len(t) == 0
}
