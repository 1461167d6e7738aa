package proto

import "encoding/binary"

// OP_Combined and OP_AppCombined (SPEC §5.10, §5.11, §14).

// CombinedHeaderLen is the 00 03 in front of the elements.
const CombinedHeaderLen = 2

// AppendCombinedHeader starts an OP_Combined packet.
func AppendCombinedHeader(b []byte) []byte { return append(b, 0, byte(OpCombined)) }

// AppendCombinedElement appends one element (u8 length, bytes). Elements
// longer than MaxElement cannot be combined; the caller sends them alone
// (SPEC §14.1 rule 1). Passing one is a programmer error and panics rather
// than writing a length byte that would split the packet wrongly.
func AppendCombinedElement(b []byte, elem []byte) []byte {
	if len(elem) > MaxElement {
		panic("proto: AppendCombinedElement: element longer than 255 bytes")
	}
	return append(append(b, byte(len(elem))), elem...)
}

// CombinedIter walks the elements of an OP_Combined packet (SPEC §14.2).
// A zero-length element is skipped (RS throws; SPEC recommends skipping); an
// element that overruns the packet ends the walk and is reported by Err.
//
//	it := proto.NewCombinedIter(pkt)
//	for elem, ok := it.Next(); ok; elem, ok = it.Next() { ... }
//	if it.Err() != nil { count the truncation }
type CombinedIter struct {
	p    []byte
	pos  int
	err  error
	long bool // EQ2: a length byte ff is followed by a u16 BE length (SPEC §22.4)
}

// NewCombinedIter iterates over p, which starts 00 03.
func NewCombinedIter(p []byte) CombinedIter {
	return CombinedIter{p: p, pos: CombinedHeaderLen}
}

// Next returns the next element, or false at the end or on an overrun.
func (it *CombinedIter) Next() ([]byte, bool) {
	for it.pos < len(it.p) {
		l := int(it.p[it.pos])
		it.pos++
		if l == 0xff && it.long && it.pos+2 <= len(it.p) {
			l = int(binary.BigEndian.Uint16(it.p[it.pos:]))
			it.pos += 2
		}
		if it.pos+l > len(it.p) {
			it.err = ErrElementOverrun
			it.pos = len(it.p)
			return nil, false
		}
		e := it.p[it.pos : it.pos+l]
		it.pos += l
		if l > 0 {
			return e, true
		}
	}
	return nil, false
}

// Err reports whether the walk stopped on a truncated element.
func (it *CombinedIter) Err() error { return it.err }

// AppendAppCombinedHeader starts an OP_AppCombined packet.
func AppendAppCombinedHeader(b []byte) []byte { return append(b, 0, byte(OpAppCombined)) }

// AppendAppCombinedElement appends one element with the shortest prefix
// (SPEC §14.4): 1 byte below 255, ff + u16 BE below 65535, else ff ff ff +
// u32 BE.
func AppendAppCombinedElement(b []byte, elem []byte) []byte {
	n := len(elem)
	switch {
	case n < 0xff:
		b = append(b, byte(n))
	case n < 0xffff:
		b = append(b, 0xff, byte(n>>8), byte(n))
	default:
		b = append(b, 0xff, 0xff, 0xff)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, elem...)
}

// AppCombinedIter walks the elements of an OP_AppCombined packet (SPEC
// §14.4), with the 1-, 3- and 7-byte length prefixes. An element or prefix
// that overruns the packet ends the walk and is reported by Err.
type AppCombinedIter struct {
	p   []byte
	pos int
	err error
}

// NewAppCombinedIter iterates over p, which starts 00 19.
func NewAppCombinedIter(p []byte) AppCombinedIter {
	return AppCombinedIter{p: p, pos: CombinedHeaderLen}
}

// Next returns the next element, or false at the end or on an overrun.
func (it *AppCombinedIter) Next() ([]byte, bool) {
	for it.pos < len(it.p) {
		p, pos := it.p, it.pos
		var l int
		if p[pos] != 0xff {
			l = int(p[pos])
			pos++
		} else if pos+3 > len(p) {
			return it.stop()
		} else if p[pos+1] == 0xff && p[pos+2] == 0xff {
			if pos+7 > len(p) {
				return it.stop()
			}
			l64 := uint64(binary.BigEndian.Uint32(p[pos+3:]))
			if l64 > uint64(len(p)) {
				return it.stop()
			}
			l = int(l64)
			pos += 7
		} else {
			l = int(binary.BigEndian.Uint16(p[pos+1:]))
			pos += 3
		}
		if pos+l > len(p) {
			return it.stop()
		}
		it.pos = pos + l
		if l > 0 {
			return p[pos : pos+l], true
		}
	}
	return nil, false
}

func (it *AppCombinedIter) stop() ([]byte, bool) {
	it.err = ErrElementOverrun
	it.pos = len(it.p)
	return nil, false
}

// Err reports whether the walk stopped on a truncated element.
func (it *AppCombinedIter) Err() error { return it.err }
