//go:build zlibref && cgo

package zlibref

/*
#cgo LDFLAGS: -lz
#include <string.h>
#include <zlib.h>

// The calls of EQEmu's Deflate and Inflate (common/net): one stream per
// datagram, set up and torn down around one call. level is 1 for the
// reliable stream (Z_BEST_SPEED) and 4 for the older DaybreakConnection and
// LEGACY (Z_FINISH, passed where the level belongs).
static unsigned eqemu_deflate(const unsigned char *in, unsigned in_len, unsigned char *out, unsigned out_len, int level) {
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	zs.next_in = (unsigned char *)in;
	zs.avail_in = in_len;
	if (deflateInit(&zs, level) != Z_OK) {
		return 0;
	}
	zs.next_out = out;
	zs.avail_out = out_len;
	int err = deflate(&zs, Z_FINISH);
	unsigned n = err == Z_STREAM_END ? (unsigned)zs.total_out : 0;
	deflateEnd(&zs);
	return n;
}

static unsigned eqemu_inflate(const unsigned char *in, unsigned in_len, unsigned char *out, unsigned out_len) {
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	zs.next_in = (unsigned char *)in;
	zs.avail_in = in_len;
	zs.next_out = out;
	zs.avail_out = out_len;
	if (inflateInit2(&zs, 15) != Z_OK) {
		return 0;
	}
	int err = inflate(&zs, Z_FINISH);
	unsigned n = err == Z_STREAM_END ? (unsigned)zs.total_out : 0;
	inflateEnd(&zs);
	return n;
}
*/
import "C"

import (
	"slices"
	"unsafe"
)

// Version is the C zlib the package links.
func Version() string { return C.GoString(C.zlibVersion()) }

// regionOffset is where EQEmu's passes start: after the two opcode bytes
// of a protocol packet (first byte 0), after the one byte of an
// application opcode otherwise.
func regionOffset(dgram []byte) int {
	if dgram[0] == 0 {
		return 2
	}
	return 1
}

const (
	// legacyBuf is the older DaybreakConnection's Compress buffer.
	legacyBuf = 2048
	// decompressBuf is what SPEC §8.2 inflates into (4096 bytes); the
	// current ReliableStreamConnection sizes it max_packet_size - offset.
	decompressBuf = 4096
)

// Compress appends to dst the datagram EQEmu's reliable stream sends for
// dgram (no CRC trailer) with the compress pass alone
// (ReliableStreamConnection::Compress, SPEC §8.2): a region over 30 bytes
// as 0x5a and a zlib stream at level 1 when that is shorter than the
// region, otherwise 0xa5 and the region.
func Compress(dst, dgram []byte) []byte {
	off := regionOffset(dgram)
	dst = append(dst, dgram[:off]...)
	region := dgram[off:]
	if len(region) > 30 {
		start := len(dst)
		out := slices.Grow(append(dst, 0x5a), len(region))[:start+1+len(region)]
		clear(out[start+1:]) // EQEmu's buffer is a zeroed vector per call
		n := C.eqemu_deflate((*C.uchar)(unsafe.Pointer(&region[0])), C.uint(len(region)),
			(*C.uchar)(unsafe.Pointer(&out[start+1])), C.uint(len(region)), 1)
		if n != 0 && int(n) < len(region) {
			return out[:start+1+int(n)]
		}
	}
	return append(append(dst, 0xa5), region...)
}

// CompressLegacy is Compress as the older DaybreakConnection did it, and
// as SPEC §21.3 describes LEGACY's: level 4, and 0x5a with the stream for
// any region over 30 bytes however long the stream comes out (the 2 KiB
// buffer zeroed per call). ok is false when the stream did not fit that
// buffer, where EQEmu sent 0x5a alone.
func CompressLegacy(dst, dgram []byte) (_ []byte, ok bool) {
	off := regionOffset(dgram)
	dst = append(dst, dgram[:off]...)
	region := dgram[off:]
	if len(region) <= 30 {
		return append(append(dst, 0xa5), region...), true
	}
	start := len(dst)
	dst = slices.Grow(append(dst, 0x5a), legacyBuf)[:start+1+legacyBuf]
	clear(dst[start+1:])
	n := C.eqemu_deflate((*C.uchar)(unsafe.Pointer(&region[0])), C.uint(len(region)),
		(*C.uchar)(unsafe.Pointer(&dst[start+1])), legacyBuf, 4)
	return dst[:start+1+int(n)], n != 0
}

// Decompress appends to dst what EQEmu makes of dgram (no CRC trailer) on
// receipt, as SPEC §8.2 gives it: the opcode bytes and the region inflated
// after 0x5a (a fresh stream, into 4096 bytes) or copied after 0xa5; with
// any other flag, or a region under two bytes, dgram as it is. ok is false
// when inflate failed. (The current ReliableStreamConnection refuses an
// unknown flag instead; the older code, the SPEC and the Coder pass it.)
func Decompress(dst, dgram []byte) (_ []byte, ok bool) {
	off := regionOffset(dgram)
	if len(dgram) < off+2 || dgram[off] != 0xa5 && dgram[off] != 0x5a {
		return append(dst, dgram...), true
	}
	dst = append(dst, dgram[:off]...)
	switch region := dgram[off+1:]; dgram[off] {
	case 0xa5:
		return append(dst, region...), true
	default:
		start := len(dst)
		dst = slices.Grow(dst, decompressBuf)[:start+decompressBuf]
		n := C.eqemu_inflate((*C.uchar)(unsafe.Pointer(&region[0])), C.uint(len(region)),
			(*C.uchar)(unsafe.Pointer(&dst[start])), decompressBuf)
		return dst[:start+int(n)], n != 0
	}
}
