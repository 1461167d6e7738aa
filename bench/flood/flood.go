package flood

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a SessionRequest flood: every request comes from
// a fresh endpoint (a new socket), as a spoofing attacker's would, and is
// never followed up, so the server holds a half-used session for each one
// it accepts until it times out.
type Options struct {
	Count int     // SessionRequests to send; 0 = no flood
	Rate  float64 // requests per second; 5000
	// Sources is how many loopback source addresses (127.1.x.y) the
	// requests rotate over; a server's per-address cap then shows as
	// refusals once Count/Sources passes it. 256.
	Sources int
	// Wait is how long each endpoint waits for an answer; 250 ms.
	Wait time.Duration
	// Workers sending in parallel, each with up to 32 sockets open; 16.
	Workers int
}

// Result counts how the server answered a flood.
type Result struct {
	Sent     uint64 `json:"sent"`
	Answered uint64 `json:"answered"` // SessionResponse: a session was created
	Refused  uint64 `json:"refused"`  // OutOfSession or SessionDisconnect
	Silent   uint64 `json:"silent"`   // nothing within Wait (eqgate refuses past its caps silently)
	Other    uint64 `json:"other"`    // some other datagram
	Errors   uint64 `json:"errors"`   // sockets that could not be opened or written
	FirstErr string `json:"first_error,omitempty"`
}

func (f Result) String() string {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	s := u(f.Sent) + " SessionRequests from distinct endpoints: " + u(f.Answered) + " answered, " + u(f.Refused) +
		" refused, " + u(f.Silent) + " unanswered, " + u(f.Other) + " other, " + u(f.Errors) + " socket errors"
	if f.FirstErr != "" {
		s += " (first: " + f.FirstErr + ")"
	}
	return s
}

type Flooder struct {
	opt     Options
	target  netip.AddrPort
	seed    uint64
	start   time.Time
	next    atomic.Int64
	stopCh  chan struct{}
	wg      sync.WaitGroup
	res     [6]atomic.Uint64 // sent, answered, refused, silent, other, errors
	errOnce sync.Once
	firstE  string
}

const floodBatch = 32

func Start(opt Options, target netip.AddrPort, seed int64) *Flooder {
	if opt.Rate <= 0 {
		opt.Rate = 5000
	}
	if opt.Sources <= 0 {
		opt.Sources = 256
	}
	if opt.Wait <= 0 {
		opt.Wait = 250 * time.Millisecond
	}
	if opt.Workers <= 0 {
		opt.Workers = 16
	}
	f := &Flooder{opt: opt, target: target, seed: uint64(seed), start: time.Now(), stopCh: make(chan struct{})}
	for range opt.Workers {
		f.wg.Go(f.worker)
	}
	return f
}

func (f *Flooder) fail(err error) {
	f.res[5].Add(1)
	f.errOnce.Do(func() { f.firstE = err.Error() })
}

// Stop ends the flood (workers finish their current batch) and returns the
// counts.
func (f *Flooder) Stop() Result {
	close(f.stopCh)
	f.wg.Wait()
	return Result{Sent: f.res[0].Load(), Answered: f.res[1].Load(), Refused: f.res[2].Load(),
		Silent: f.res[3].Load(), Other: f.res[4].Load(), Errors: f.res[5].Load(), FirstErr: f.firstE}
}

// sourceOf is the source address of the k-th request.
func (f *Flooder) sourceOf(k int) *net.UDPAddr {
	n := 1 + k%f.opt.Sources
	return &net.UDPAddr{IP: net.IPv4(127, 1, byte(n>>8), byte(n))}
}

// sessionRequest builds the 14-byte OP_SessionRequest (SPEC §5.1).
func sessionRequest(b []byte, code uint32) []byte {
	b = b[:14]
	b[0], b[1] = 0x00, 0x01
	binary.BigEndian.PutUint32(b[2:], 3) // protocol version the RS client sends
	binary.BigEndian.PutUint32(b[6:], code)
	binary.BigEndian.PutUint32(b[10:], 512)
	return b
}

func (f *Flooder) worker() {
	var socks [floodBatch]*net.UDPConn
	req := make([]byte, 14)
	buf := make([]byte, 2048)
	pace := time.NewTimer(0)
	defer pace.Stop()
	for {
		// Take up to a batch of request numbers, pacing to Rate.
		first := int(f.next.Add(floodBatch) - floodBatch)
		if first >= f.opt.Count {
			return
		}
		n := min(floodBatch, f.opt.Count-first)
		due := f.start.Add(time.Duration(float64(first) / f.opt.Rate * 1e9))
		if d := time.Until(due); d > 0 {
			pace.Reset(d)
			select {
			case <-f.stopCh:
				return
			case <-pace.C:
			}
		}
		select {
		case <-f.stopCh:
			return
		default:
		}
		opened := 0
		for i := range n {
			c, err := net.ListenUDP("udp", f.sourceOf(first+i))
			if err != nil {
				f.fail(err)
				continue
			}
			code := uint32(rand.NewPCG(f.seed, uint64(first+i)).Uint64()) // a function of seed and request number
			if _, err := c.WriteToUDPAddrPort(sessionRequest(req, code), f.target); err != nil {
				f.fail(err)
				_ = c.Close() // counted as an error already
				continue
			}
			f.res[0].Add(1)
			socks[opened] = c
			opened++
		}
		deadline := time.Now().Add(f.opt.Wait)
		for i := range opened {
			c := socks[i]
			_ = c.SetReadDeadline(deadline) // a socket we just opened; cannot fail in practice
			m, err := c.Read(buf)
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				f.res[3].Add(1)
			case err != nil:
				f.res[3].Add(1) // ICMP refusal and the like: no protocol answer
			case m >= 2 && buf[0] == 0 && buf[1] == 0x02:
				f.res[1].Add(1)
			case m >= 2 && buf[0] == 0 && (buf[1] == 0x1d || buf[1] == 0x05):
				f.res[2].Add(1)
			default:
				f.res[4].Add(1)
			}
			_ = c.Close() // done with this endpoint
			socks[i] = nil
		}
	}
}
