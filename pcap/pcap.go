// Package pcap writes and reads classic libpcap capture files of UDP
// datagrams, so a trace opens in Wireshark and tshark and a tcpdump
// capture can be decoded: the writer synthesises the IPv4 or IPv6 and UDP
// headers around each payload (link type RAW, so no Ethernet header is
// invented); the reader accepts RAW, Ethernet and Linux cooked (SLL)
// captures and returns the UDP payloads with their endpoints.
//
// Buffers: Writer keeps one scratch buffer for the headers; Reader returns
// a Packet whose Payload aliases its buffer, valid until the next Next.
// Neither is safe for concurrent use. The reader checks every length
// before it reads and returns an error (never panics) on a bad file.
package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Link types (tcpdump.org/linktypes.html).
const (
	LinkEthernet = 1
	LinkRaw      = 101 // IPv4 or IPv6, told apart by the version nibble
	LinkLinuxSLL = 113
)

const (
	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d
	snapLen    = 65535
	maxRecord  = 256 << 10 // larger captured lengths are a corrupt file
)

// Packet is one UDP datagram of a capture.
type Packet struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	Payload  []byte
}

// Writer writes a capture. Create it with NewWriter.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter writes the file header (microsecond timestamps, link type RAW)
// and returns the Writer.
func NewWriter(w io.Writer) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], magicMicro)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], snapLen)
	binary.LittleEndian.PutUint32(h[20:], LinkRaw)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &Writer{w: w, buf: make([]byte, 0, 2048)}, nil
}

// WriteUDP writes one datagram from src to dst. Both are written as IPv4
// when both are IPv4 (or IPv4-mapped), as IPv6 otherwise; checksums are
// real so Wireshark shows none as bad. Payloads past 65,507 bytes (the
// most one IPv4 UDP datagram carries) are cut in the record only.
func (w *Writer) WriteUDP(t time.Time, src, dst netip.AddrPort, payload []byte) error {
	v4 := src.Addr().Unmap().Is4() && dst.Addr().Unmap().Is4()
	hl := 40
	if v4 {
		hl = 20
	}
	payload = payload[:min(len(payload), 65535-hl-8)]
	udpLen := 8 + len(payload)
	b := w.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(t.Unix()))
	b = binary.LittleEndian.AppendUint32(b, uint32(t.Nanosecond()/1000))
	b = binary.LittleEndian.AppendUint32(b, uint32(hl+udpLen))
	b = binary.LittleEndian.AppendUint32(b, uint32(hl+udpLen))
	ip := len(b)
	if v4 {
		s4, d4 := src.Addr().Unmap().As4(), dst.Addr().Unmap().As4()
		b = append(b, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(hl+udpLen))
		b = append(b, 0, 0, 0x40, 0, 64, 17, 0, 0) // id 0, DF, TTL 64, UDP, checksum below
		b = append(b, s4[:]...)
		b = append(b, d4[:]...)
		binary.BigEndian.PutUint16(b[ip+10:], ^fold(sum(b[ip:ip+20], 0)))
	} else {
		s6, d6 := src.Addr().As16(), dst.Addr().As16()
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(udpLen))
		b = append(b, 17, 64)
		b = append(b, s6[:]...)
		b = append(b, d6[:]...)
	}
	u := len(b)
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(udpLen))
	b = append(b, 0, 0)
	// Pseudo-header: the addresses, protocol and UDP length (RFC 768, RFC 8200 §8.1).
	var ph uint32
	if v4 {
		ph = sum(b[ip+12:ip+20], 0)
	} else {
		ph = sum(b[ip+8:ip+40], 0)
	}
	ph += 17 + uint32(udpLen)
	c := ^fold(sum(payload, sum(b[u:u+8], ph)))
	if c == 0 {
		c = 0xffff // 0 means "no checksum" (IPv4) and is invalid (IPv6)
	}
	binary.BigEndian.PutUint16(b[u+6:], c)
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	_, err := w.w.Write(payload)
	return err
}

// sum adds b as big-endian 16-bit words to s (RFC 1071); an odd length is
// padded with a zero byte, so only the last part may be odd.
func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// Errors.
var (
	ErrNotPcap  = errors.New("pcap: not a libpcap capture (pcapng is not read: save as pcap)")
	ErrLinkType = errors.New("pcap: unsupported link type")
	ErrCorrupt  = errors.New("pcap: corrupt record")
)

// Reader reads a capture. Create it with NewReader.
type Reader struct {
	r     io.Reader
	order binary.ByteOrder
	nano  bool
	link  uint32
	hdr   [16]byte
	buf   []byte
}

// NewReader reads the file header.
func NewReader(r io.Reader) (*Reader, error) {
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotPcap, err)
	}
	rd := &Reader{r: r}
	switch {
	case binary.LittleEndian.Uint32(h[:]) == magicMicro:
		rd.order = binary.LittleEndian
	case binary.BigEndian.Uint32(h[:]) == magicMicro:
		rd.order = binary.BigEndian
	case binary.LittleEndian.Uint32(h[:]) == magicNano:
		rd.order, rd.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[:]) == magicNano:
		rd.order, rd.nano = binary.BigEndian, true
	default:
		return nil, ErrNotPcap
	}
	rd.link = rd.order.Uint32(h[20:]) & 0x0fffffff // the top bits carry FCS flags
	switch rd.link {
	case LinkRaw, LinkEthernet, LinkLinuxSLL:
	default:
		return nil, fmt.Errorf("%w %d", ErrLinkType, rd.link)
	}
	return rd, nil
}

// Next returns the next UDP datagram, skipping records that are not UDP
// over IPv4 or IPv6 (or are IP fragments); io.EOF at the end.
func (r *Reader) Next() (Packet, error) {
	for {
		if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
			if err == io.ErrUnexpectedEOF {
				return Packet{}, ErrCorrupt
			}
			return Packet{}, err
		}
		sec, frac := r.order.Uint32(r.hdr[0:]), r.order.Uint32(r.hdr[4:])
		incl := r.order.Uint32(r.hdr[8:])
		if incl > maxRecord {
			return Packet{}, ErrCorrupt
		}
		if cap(r.buf) < int(incl) {
			r.buf = make([]byte, incl)
		}
		b := r.buf[:incl]
		if _, err := io.ReadFull(r.r, b); err != nil {
			return Packet{}, ErrCorrupt
		}
		ns := int64(frac) * 1000
		if r.nano {
			ns = int64(frac)
		}
		if p, ok := r.udp(b); ok {
			p.Time = time.Unix(int64(sec), ns)
			return p, nil
		}
	}
}

// udp finds the UDP datagram in one record, by link type.
func (r *Reader) udp(b []byte) (Packet, bool) {
	var ethertype uint16
	switch r.link {
	case LinkEthernet:
		if len(b) < 14 {
			return Packet{}, false
		}
		ethertype, b = binary.BigEndian.Uint16(b[12:]), b[14:]
		if ethertype == 0x8100 && len(b) >= 4 { // one VLAN tag
			ethertype, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
	case LinkLinuxSLL:
		if len(b) < 16 {
			return Packet{}, false
		}
		ethertype, b = binary.BigEndian.Uint16(b[14:]), b[16:]
	}
	if len(b) < 1 {
		return Packet{}, false
	}
	var src, dst netip.Addr
	switch {
	case b[0]>>4 == 4 && (ethertype == 0 || ethertype == 0x0800):
		if len(b) < 20 {
			return Packet{}, false
		}
		ihl := int(b[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(b[2:]))
		fragmented := binary.BigEndian.Uint16(b[6:])&0x3fff != 0
		if ihl < 20 || total < ihl || total > len(b) || b[9] != 17 || fragmented {
			return Packet{}, false
		}
		src, dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		b = b[ihl:total]
	case b[0]>>4 == 6 && (ethertype == 0 || ethertype == 0x86dd):
		// Extension headers are not followed: a next header other than
		// UDP is skipped.
		if len(b) < 40 || b[6] != 17 {
			return Packet{}, false
		}
		plen := int(binary.BigEndian.Uint16(b[4:]))
		if 40+plen > len(b) {
			return Packet{}, false
		}
		src, dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		b = b[40 : 40+plen]
	default:
		return Packet{}, false
	}
	if len(b) < 8 {
		return Packet{}, false
	}
	ulen := int(binary.BigEndian.Uint16(b[4:]))
	if ulen < 8 || ulen > len(b) {
		return Packet{}, false
	}
	return Packet{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:])),
		Payload: b[8:ulen],
	}, true
}
