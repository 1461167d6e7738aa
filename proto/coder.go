package proto

import (
	"hash/crc32"
)

// Coder applies and removes the encode passes and the CRC trailer (SPEC §7,
// §8, §9 step 8, §15 step 6). It holds the deflate and inflate state and
// scratch buffers, so one Coder serves every session of one goroutine (a
// shard); it is not safe for concurrent use. The zero value is ready to use.
type Coder struct {
	def     deflater
	inf     inflater
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

// inflateTo inflates the zlib stream src into out, failing when the output
// exceeds MaxInflate bytes or the stream does not end cleanly. A preset
// dictionary (FDICT) makes C zlib's inflate return Z_NEED_DICT, which RS
// treats as a failure, so it is refused too. Work is bounded by the input
// and the cap: a zlib bomb stops at MaxInflate+1 bytes.
func (c *Coder) inflateTo(out, src []byte) (int, error) {
	return c.inf.inflate(out, src)
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
// buffer, or nil when that would not save a byte (deflate.go).
func (c *Coder) deflate(region []byte) []byte {
	return c.def.deflate(region)
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
