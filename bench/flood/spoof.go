package flood

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/eqgate/eqgate/batchio"
)

// Kind is what a spoofed datagram pretends to be.
type Kind uint8

const (
	KindRequest    Kind = iota // a 14-byte SessionRequest
	KindGarbage                // 16 random bytes
	KindKeepAlive              // a keepalive with a 2-byte trailer (4 bytes)
	KindStat                   // a 40-byte SessionStatRequest with a trailer
	KindAck                    // an OP_Ack with a trailer (6 bytes)
	KindDisconnect             // a SessionDisconnect with a trailer (8 bytes)
	NumKinds
)

var kindNames = [NumKinds]string{"request", "garbage", "keepalive", "stat_request", "ack", "disconnect"}

func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "kind" + strconv.Itoa(int(k))
}

// ErrNoRawSockets: spoofing needs raw sockets (root or CAP_NET_RAW).
var ErrNoRawSockets = errors.New("flood: spoofing needs raw sockets (CAP_NET_RAW)")

// SpoofOptions configures a spoofed flood: Count datagrams of Kind, each
// from a forged source 127.x.y.z:port drawn from Endpoints distinct
// endpoints, at Rate per second (0: as fast as one goroutine sends).
type SpoofOptions struct {
	Kind      Kind
	Count     int
	Endpoints int // 65536
	Rate      float64
	Seed      uint64
}

// SpoofResult is what a spoofed flood sent; the answers go to the forged
// addresses, so the server's own counters measure what they cost.
type SpoofResult struct {
	Kind    string        `json:"kind"`
	Sent    int           `json:"sent"`
	Bytes   int           `json:"bytes"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Spoof sends the flood and returns when it is done. Without raw sockets it
// returns ErrNoRawSockets at once.
func Spoof(opt SpoofOptions, target netip.AddrPort) (SpoofResult, error) {
	sp, err := batchio.OpenSpoofer()
	if errors.Is(err, batchio.ErrNotSupported) {
		return SpoofResult{}, ErrNoRawSockets
	}
	if err != nil {
		return SpoofResult{}, err
	}
	defer sp.Close()
	if opt.Endpoints <= 0 {
		opt.Endpoints = 65536
	}
	rng := rand.New(rand.NewPCG(opt.Seed, uint64(opt.Kind)))
	res := SpoofResult{Kind: opt.Kind.String()}
	start := time.Now()
	buf := make([]byte, 64)
	for i := range opt.Count {
		if opt.Rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / opt.Rate * 1e9))); d > 0 {
				time.Sleep(d) // pacing the sender, not synchronising a test
			}
		}
		e := uint32(i % opt.Endpoints)
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 10 + byte(e>>16), byte(e >> 8), byte(e)}), 1024+uint16(rng.IntN(60000)))
		d := Datagram(buf, opt.Kind, rng)
		if err := sp.WriteTo(d, src, target); err != nil {
			return res, err
		}
		res.Sent++
		res.Bytes += len(d)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// Datagram builds one flood datagram of kind k into b (64 bytes or more);
// trailers and codes are random, as a spoofer's guesses would be.
func Datagram(b []byte, k Kind, rng *rand.Rand) []byte {
	switch k {
	case KindRequest:
		return sessionRequest(b, rng.Uint32())
	case KindGarbage:
		b = b[:16]
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	case KindKeepAlive:
		return append(b[:0], 0, 0x06, byte(rng.Uint32()), byte(rng.Uint32()))
	case KindStat:
		b = b[:42]
		clear(b)
		b[1] = 0x07
		binary.BigEndian.PutUint16(b[40:], uint16(rng.Uint32()))
		return b
	case KindAck:
		return append(b[:0], 0, 0x15, 0, byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()))
	case KindDisconnect:
		b = append(b[:0], 0, 0x05)
		b = binary.BigEndian.AppendUint32(b, rng.Uint32())
		return append(b, byte(rng.Uint32()), byte(rng.Uint32()))
	}
	return b[:0]
}
