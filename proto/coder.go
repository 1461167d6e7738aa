package proto

import (
	"bytes"
	"encoding/binary"
	"hash/adler32"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zlib"
)

// Coder applies and removes the encode passes and the CRC trailer (SPEC §7,
// §8, §9 step 8, §15 step 6). It holds the zlib state and scratch buffers,
// so one Coder serves every session of one goroutine (a shard); it is not
// safe for concurrent use. The zero value is ready to use.
type Coder struct {
	zout    sliceWriter
	zr      io.ReadCloser
	zsrc    bytes.Reader
	inflate [2][]byte // alternate, so [compress, compress] never inflates a buffer into itself
	flip    int
}

// Decode checks and strips the CRC trailer of datagram d and undoes the
// encode passes in reverse order, returning the decoded packet (SPEC §9).
// It works in place: d is modified, and the result is a view of d, or of the
// Coder's inflate buffer (valid until the next call) when the packet was
// deflated.
//
// KeepAlive and OutboundPing datagrams return ErrKeepAlive/ErrOutboundPing
// before any check, as RS discards them; SessionRequest, SessionResponse and
// OutOfSession are returned as they are.
func (c *Coder) Decode(p *Params, d []byte) ([]byte, error) {
	if len(d) < 2 {
		return nil, ErrShortDatagram
	}
	if d[0] == 0 {
		switch Opcode(d[1]) {
		case OpKeepAlive:
			return nil, ErrKeepAlive
		case OpOutboundPing:
			return nil, ErrOutboundPing
		case OpSessionRequest, OpSessionResponse, OpOutOfSession:
			return d, nil
		}
	}
	return c.decodeEncoded(p, d, false)
}

// DecodeUnchecked is Decode for a datagram whose trailer the caller has
// chosen to accept without a match (the CRC leniencies of SPEC §21.3 and
// §22.3): the trailer is stripped unread and the passes undone.
func (c *Coder) DecodeUnchecked(p *Params, d []byte) ([]byte, error) {
	if len(d) < 2 {
		return nil, ErrShortDatagram
	}
	return c.decodeEncoded(p, d, true)
}

// decodeEncoded is Decode without the keepalive/ping discard and the exempt
// check: the CRC and the passes only. Tests use it to check the captured
// keepalives, whose CRC and passes an RS receiver never looks at.
func (c *Coder) decodeEncoded(p *Params, d []byte, unchecked bool) ([]byte, error) {
	// Params is a plain struct; a hand-built one with a negative CRCBytes
	// must not slice out of range.
	if uint(p.CRCBytes) > 4 {
		return nil, ErrBadCRCBytes
	}
	n := len(d) - p.CRCBytes
	if n < 1 {
		return nil, ErrShortCRC
	}
	if !unchecked && !trailerMatches(d[n:], crc32.Update(p.crcSeed, crc32.IEEETable, d[:n])) {
		return nil, ErrBadCRC
	}
	pkt := d[:n]
	if pkt[0] == 0 && len(pkt) < 2 {
		return nil, ErrShortPacket // a protocol packet needs its opcode byte
	}
	off := regionOffset(pkt)
	for i := len(p.Passes) - 1; i >= 0; i-- {
		switch p.Passes[i] {
		case PassXOR:
			if off < len(pkt) {
				XORDecode(pkt[off:], p.Key)
			}
		case PassCompress:
			var err error
			if pkt, err = c.uncompress(pkt, off); err != nil {
				return nil, err
			}
		}
	}
	return pkt, nil
}

// uncompress undoes the compression pass on pkt's region at off (SPEC §8.2,
// receive table).
func (c *Coder) uncompress(pkt []byte, off int) ([]byte, error) {
	if len(pkt)-off < 2 {
		return pkt, nil // a lone flag byte, or nothing: left as it is
	}
	switch pkt[off] {
	case flagPlain:
		// Drop the flag by sliding the header over it: the packet stays
		// contiguous without a copy of the region.
		copy(pkt[1:off+1], pkt[:off])
		return pkt[1:], nil
	case flagDeflated:
		return c.inflateRegion(pkt, off)
	}
	return pkt, nil // no flag: taken as uncompressed
}

func (c *Coder) inflateRegion(pkt []byte, off int) ([]byte, error) {
	buf := c.nextInflateBuf()
	n, err := c.inflateTo(buf[off:], pkt[off+1:])
	if err != nil {
		return nil, err
	}
	copy(buf[:off], pkt[:off])
	return buf[:off+n], nil
}

func (c *Coder) nextInflateBuf() []byte {
	buf := c.inflate[c.flip]
	if buf == nil {
		// 2 header bytes + the cap + 1 byte to detect overflow.
		buf = make([]byte, 2+MaxInflate+1)
		c.inflate[c.flip] = buf
	}
	c.flip ^= 1
	return buf
}

// emptyZlib is a complete zlib stream of no data. The reader is created on
// it so that a hostile first packet with a bad header cannot make every
// later packet allocate a new reader.
var emptyZlib = []byte{0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01}

// inflateTo inflates the zlib stream src into out, failing when the output
// exceeds MaxInflate bytes or the stream does not end cleanly.
func (c *Coder) inflateTo(out, src []byte) (int, error) {
	if c.zr == nil {
		c.zsrc.Reset(emptyZlib)
		zr, err := zlib.NewReader(&c.zsrc)
		if err != nil {
			return 0, ErrInflate // unreachable: emptyZlib is valid
		}
		c.zr = zr
	}
	// A preset dictionary (FDICT) makes C zlib's inflate return Z_NEED_DICT,
	// which RS treats as a failure; reject it rather than inflating with an
	// empty dictionary.
	if len(src) >= 2 && src[1]&0x20 != 0 {
		return 0, ErrInflate
	}
	c.zsrc.Reset(src)
	if err := c.zr.(zlib.Resetter).Reset(&c.zsrc, nil); err != nil {
		return 0, ErrInflate
	}
	// One byte past the cap tells an over-long stream from one that is
	// exactly MaxInflate bytes; reading stops there, so a zlib bomb costs at
	// most MaxInflate+1 bytes of work.
	if len(out) > MaxInflate+1 {
		out = out[:MaxInflate+1]
	}
	n := 0
	for {
		m, err := c.zr.Read(out[n:])
		n += m
		if n > MaxInflate {
			return 0, ErrInflateTooBig
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, ErrInflate
		}
		if m == 0 && n == len(out) {
			return 0, ErrInflateTooBig // out shorter than the cap is full
		}
	}
}

// AppendEncode appends the wire form of decoded packet pkt to dst: the encode
// passes in order over the encoding region, then the CRC trailer (SPEC §15
// step 6.3). Exempt packets (SessionRequest, SessionResponse, OutOfSession)
// are appended raw. pkt must not overlap dst's spare capacity.
func (c *Coder) AppendEncode(p *Params, dst, pkt []byte) []byte {
	start := len(dst)
	dst = append(dst, pkt...)
	if Exempt(pkt) {
		return dst
	}
	off := start + regionOffset(pkt)
	for _, pass := range p.Passes {
		switch pass {
		case PassXOR:
			XOREncode(dst[off:], p.Key)
		case PassCompress:
			min := CompressThreshold
			if p.legacyDeflate {
				min -= off - start // the header counts (SPEC §21.3)
			}
			dst = c.compress(dst, off, min)
		}
	}
	return appendCRC(dst, crc32.Update(p.crcSeed, crc32.IEEETable, dst[start:]), p.CRCBytes)
}

// compress applies the compression pass to dst[off:] (SPEC §8.2, send):
// regions over min bytes are deflated when that makes them shorter.
func (c *Coder) compress(dst []byte, off, min int) []byte {
	n := len(dst) - off
	if n > min {
		if d := c.deflate(dst[off:]); d != nil && 1+len(d) <= n {
			dst = append(dst[:off], flagDeflated)
			return append(dst, d...)
		}
	}
	dst = append(dst, 0)
	copy(dst[off+1:], dst[off:len(dst)-1])
	dst[off] = flagPlain
	return dst
}

// deflate returns region in zlib format (RFC 1950) in the Coder's scratch
// buffer; nil on failure. RS uses C zlib at level 1 (Z_BEST_SPEED). The
// stateful klauspost and stdlib writers skip match finding for inputs under
// 128 bytes (stored or Huffman-only blocks), which leaves most game packets
// uncompressed; the stateless encoder does LZ matching at any size, so its
// output is close to C zlib's (31 x 'A': 10 bytes, C zlib 11, level-1 writer
// 44). The zlib framing around it is written here: header 78 01 as C zlib
// writes for level 1, then the Adler-32 of the input, big-endian.
func (c *Coder) deflate(region []byte) []byte {
	c.zout.b = append(c.zout.b[:0], 0x78, 0x01)
	if err := flate.StatelessDeflate(&c.zout, region, true, nil); err != nil {
		return nil
	}
	c.zout.b = binary.BigEndian.AppendUint32(c.zout.b, adler32.Checksum(region))
	return c.zout.b
}

// Inflate appends to dst the inflated form of the zlib stream zdata, capped
// at MaxInflate bytes as the compression pass is (SPEC §8.2).
func (c *Coder) Inflate(dst, zdata []byte) ([]byte, error) {
	buf := c.nextInflateBuf()
	n, err := c.inflateTo(buf, zdata)
	if err != nil {
		return dst, err
	}
	return append(dst, buf[:n]...), nil
}

// sliceWriter is an io.Writer over a reusable slice, so deflate output needs
// no allocation once the slice has grown to the largest region seen.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
