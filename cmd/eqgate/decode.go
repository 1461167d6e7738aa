package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/eqgate/eqgate"
	"github.com/eqgate/eqgate/pcap"
	"github.com/eqgate/eqgate/proto"
)

// runDecode is `eqgate decode [flags] FILE.pcap`: every UDP datagram of a
// capture (a /debug/trace, or tcpdump's), one line each, decoded with
// proto's own decoders: direction, length, then the protocol packet
// (opcode, stream, sequence, acks, lengths; Combined elements indented),
// after the CRC check and the passes are undone with the session's
// parameters. Those come from the SessionResponse when the capture has it,
// else from the flags (the trace's X-Eqgate-Decode header gives them).
func runDecode(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "session `key` (hex or decimal) for sessions whose SessionResponse the capture lacks")
	crc := fs.Int("crc", 2, "CRC `bytes` (0, 2 or 4) with -key")
	enc := fs.String("encode", "none", "encode `passes` with -key: none, xor, compress, compress+xor or xor+compress")
	maxPacket := fs.Int("max", proto.DefaultMaxPacket, "max packet `size` with -key")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: eqgate decode [-key K -crc N -encode P -max M] FILE.pcap")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	var fallback *proto.Params
	if *key != "" {
		k, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(*key), "0x"), 16, 32)
		if err != nil {
			fmt.Fprintf(stderr, "eqgate decode: -key %q: want hex\n", *key)
			return 2
		}
		e, err := eqgate.ParseEncoding(*enc)
		if err != nil {
			fmt.Fprintf(stderr, "eqgate decode: -encode: %v\n", err)
			return 2
		}
		p, err := proto.NewParams(uint32(k), *crc, e.Passes(), *maxPacket)
		if err != nil {
			fmt.Fprintf(stderr, "eqgate decode: %v\n", err)
			return 2
		}
		fallback = &p
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "eqgate decode: %v\n", err)
		return 1
	}
	defer f.Close()
	r, err := pcap.NewReader(f)
	if err != nil {
		fmt.Fprintf(stderr, "eqgate decode: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	d := &decoder{out: stdout, flows: map[flowKey]*proto.Params{}, fallback: fallback}
	for n := 1; ; n++ {
		pk, err := r.Next()
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "eqgate decode: %s: packet %d: %v\n", fs.Arg(0), n, err)
			return 1
		}
		d.packet(n, &pk)
	}
}

// flowKey names one session's two endpoints, in either direction.
type flowKey struct{ a, b netip.AddrPort }

func keyOf(x, y netip.AddrPort) flowKey {
	x = netip.AddrPortFrom(x.Addr().Unmap(), x.Port())
	y = netip.AddrPortFrom(y.Addr().Unmap(), y.Port())
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return flowKey{x, y}
}

type decoder struct {
	out      io.Writer
	flows    map[flowKey]*proto.Params
	fallback *proto.Params
	coder    proto.Coder
	line     strings.Builder
}

func (d *decoder) packet(n int, pk *pcap.Packet) {
	b := &d.line
	b.Reset()
	fmt.Fprintf(b, "%d %s %s > %s len=%d ", n, pk.Time.UTC().Format("15:04:05.000000"), pk.Src, pk.Dst, len(pk.Payload))
	p := pk.Payload
	fk := keyOf(pk.Src, pk.Dst)
	if len(p) >= 2 && p[0] == 0 && proto.Opcode(p[1]) == proto.OpSessionResponse {
		if r, err := proto.ParseSessionResponse(p); err == nil {
			if params, err := proto.NewParams(r.Key, int(r.CRCBytes), r.Passes, int(r.MaxPacketSize)); err == nil {
				d.flows[fk] = &params
			}
		}
	}
	params := d.flows[fk]
	if params == nil {
		params = d.fallback
	}
	switch {
	case params == nil && !proto.Exempt(p):
		b.WriteString("(no session parameters: capture the SessionResponse or pass -key)")
	default:
		if params == nil {
			params = &proto.Params{} // exempt packets need none
		}
		buf := append([]byte(nil), p...) // Decode works in place
		dec, err := d.coder.Decode(params, buf)
		switch {
		case errors.Is(err, proto.ErrKeepAlive):
			b.WriteString("KeepAlive")
		case errors.Is(err, proto.ErrOutboundPing):
			b.WriteString("OutboundPing")
		case errors.Is(err, proto.ErrBadCRC):
			b.WriteString("CRC BAD")
		case err != nil:
			fmt.Fprintf(b, "undecodable: %v", err)
		default:
			if !proto.Exempt(p) && params.CRCBytes > 0 {
				b.WriteString("crc=ok ")
			}
			describe(b, dec, 0)
		}
	}
	b.WriteByte('\n')
	io.WriteString(d.out, b.String())
}

// describe writes one decoded protocol packet (and Combined elements,
// indented a level each).
func describe(b *strings.Builder, p []byte, depth int) {
	if app, ok := proto.AppPayload(p); ok {
		if op, body, err := proto.ParseApp(app); err == nil {
			fmt.Fprintf(b, "app op=%#04x len=%d", op, len(body))
		} else {
			fmt.Fprintf(b, "app len=%d", len(app))
		}
		return
	}
	if len(p) < 2 {
		fmt.Fprintf(b, "short %x", p)
		return
	}
	op := proto.Opcode(p[1])
	base, stream, seq, serr := proto.ParseSeq(p)
	switch {
	case serr == nil && base == proto.OpPacket:
		fmt.Fprintf(b, "Packet stream=%d seq=%d len=%d: ", stream, seq, len(p)-proto.SeqHeaderLen)
		describe(b, p[proto.SeqHeaderLen:], depth)
	case serr == nil && base == proto.OpFragment:
		fmt.Fprintf(b, "Fragment stream=%d seq=%d len=%d", stream, seq, len(p)-proto.SeqHeaderLen)
	case serr == nil && (base == proto.OpAck || base == proto.OpOutOfOrderAck):
		fmt.Fprintf(b, "%s stream=%d seq=%d", strings.TrimSuffix(base.String(), "0"), stream, seq)
	case op == proto.OpCombined:
		it := proto.NewCombinedIter(p)
		b.WriteString("Combined")
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			fmt.Fprintf(b, "\n%s  - ", strings.Repeat("  ", depth))
			describe(b, e, depth+1)
		}
		if it.Err() != nil {
			fmt.Fprintf(b, "\n%s  ! %v", strings.Repeat("  ", depth), it.Err())
		}
	case op == proto.OpAppCombined:
		it := proto.NewAppCombinedIter(p)
		n := 0
		for _, ok := it.Next(); ok; _, ok = it.Next() {
			n++
		}
		fmt.Fprintf(b, "AppCombined %d packets", n)
	case op == proto.OpSessionRequest:
		if r, err := proto.ParseSessionRequest(p); err == nil {
			fmt.Fprintf(b, "SessionRequest %+v", r)
		} else {
			fmt.Fprintf(b, "SessionRequest: %v", err)
		}
	case op == proto.OpSessionResponse:
		if r, err := proto.ParseSessionResponse(p); err == nil {
			fmt.Fprintf(b, "SessionResponse key=%#08x crc=%d passes=%v,%v max=%d", r.Key, r.CRCBytes, r.Passes[0], r.Passes[1], r.MaxPacketSize)
		} else {
			fmt.Fprintf(b, "SessionResponse: %v", err)
		}
	case op == proto.OpSessionStatRequest:
		if r, err := proto.ParseSessionStatRequest(p); err == nil {
			fmt.Fprintf(b, "SessionStatRequest sent=%d recv=%d", r.PacketsSent, r.PacketsRecv)
		}
	default:
		fmt.Fprintf(b, "%s len=%d", op, len(p))
	}
}
