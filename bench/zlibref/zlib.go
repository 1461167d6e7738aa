//go:build zlibref && cgo

package zlibref

/*
#cgo LDFLAGS: -lz
#include <string.h>
#include <zlib.h>

// The calls of EQEmu's Deflate and Inflate (common/net/daybreak_connection):
// one stream per datagram, set up and torn down around one call.
static unsigned eqemu_deflate(const unsigned char *in, unsigned in_len, unsigned char *out, unsigned out_len) {
	z_stream zs;
	memset(&zs, 0, sizeof zs);
	zs.next_in = (unsigned char *)in;
	zs.avail_in = in_len;
	deflateInit(&zs, Z_FINISH); // the level argument: 4
	zs.next_out = out;
	zs.avail_out = out_len;
	int err = deflate(&zs, Z_FINISH);
	deflateEnd(&zs);
	return err == Z_STREAM_END ? (unsigned)zs.total_out : 0;
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
	inflateEnd(&zs);
	return err == Z_STREAM_END ? (unsigned)zs.total_out : 0;
}
*/
import "C"

import (
	"slices"
	"unsafe"
)

// Version is the C zlib the package links.
func Version() string { return C.GoString(C.zlibVersion()) }

// regionOffset is where DaybreakConnection's passes start: after the two
// opcode bytes of a protocol packet (first byte 0), after the one byte of
// an application opcode otherwise.
func regionOffset(dgram []byte) int {
	if dgram[0] == 0 {
		return 2
	}
	return 1
}

// compressBuf is the size of Compress's output buffer in EQEmu (2048) and
// Decompress's (4096).
const (
	compressBuf   = 2048
	decompressBuf = 4096
)

// Compress appends to dst the datagram EQEmu sends for dgram (a datagram
// with no CRC trailer) with the compress pass alone: the region over 30
// bytes as 0x5a and a zlib stream at level 4, however long it comes out,
// otherwise 0xa5 and the region. ok is false when zlib failed (the stream
// would not fit EQEmu's 2 KiB buffer), where EQEmu sends 0x5a alone.
func Compress(dst, dgram []byte) (_ []byte, ok bool) {
	off := regionOffset(dgram)
	dst = append(dst, dgram[:off]...)
	region := dgram[off:]
	if len(region) <= 30 {
		return append(append(dst, 0xa5), region...), true
	}
	start := len(dst)
	dst = slices.Grow(append(dst, 0x5a), compressBuf)[:start+1+compressBuf]
	clear(dst[start+1:]) // EQEmu's buffer is zeroed per call too
	n := C.eqemu_deflate((*C.uchar)(unsafe.Pointer(&region[0])), C.uint(len(region)),
		(*C.uchar)(unsafe.Pointer(&dst[start+1])), compressBuf)
	return dst[:start+1+int(n)], n != 0
}

// Decompress appends to dst what EQEmu's Decompress makes of dgram (no CRC
// trailer): the opcode bytes and the region inflated after 0x5a or copied
// after 0xa5; with any other flag, or a region under two bytes, dgram as it
// is, as EQEmu leaves it. ok is false when inflate failed.
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
