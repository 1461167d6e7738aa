package shard

import (
	"hash/maphash"
	"sync"
)

// hashSeed seeds every peer-facing hash of the process (session index, IP
// limiter): maphash with a per-process random seed, so colliding endpoints
// cannot be precomputed (DESIGN.md, "Admission").
var hashSeed = maphash.MakeSeed()

// ipKey is the unit the per-IP cap counts: an IPv4 address, or an IPv6 /64
// (one subscriber's allocation; counting single IPv6 addresses would let
// one host take any number of them).
type ipKey [16]byte

func ipKeyOf(a *[16]byte) ipKey {
	k := ipKey(*a)
	if !isV4Mapped(a) {
		clear(k[8:])
	}
	return k
}

func isV4Mapped(a *[16]byte) bool {
	for _, b := range a[:10] {
		if b != 0 {
			return false
		}
	}
	return a[10] == 0xff && a[11] == 0xff
}

// ipLimiter caps sessions per source address (IPv4) or /64 (IPv6) over all
// shards of a group, exactly: a count per key in maps striped by a seeded
// hash, each under its own mutex. It is touched only when a session is
// created or freed (after a proof, so a spoofer cannot drive it), never per
// datagram; entries go when their count reaches 0, so its size follows the
// live sessions.
type ipLimiter struct {
	stripes []ipStripe
	max     int32
}

type ipStripe struct {
	mu sync.Mutex
	n  map[ipKey]int32
	_  [40]byte // keep stripes on separate cache lines
}

const ipStripes = 64

func newIPLimiter(max int) ipLimiter {
	l := ipLimiter{stripes: make([]ipStripe, ipStripes), max: int32(min(max, 1<<30))}
	for i := range l.stripes {
		l.stripes[i].n = map[ipKey]int32{}
	}
	return l
}

func (l *ipLimiter) stripe(k *ipKey) *ipStripe {
	return &l.stripes[maphash.Bytes(hashSeed, k[:])&(ipStripes-1)]
}

// acquire counts one more session for a's key, or reports false at the cap.
func (l *ipLimiter) acquire(a *[16]byte) bool {
	k := ipKeyOf(a)
	st := l.stripe(&k)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.n[k] >= l.max {
		return false
	}
	st.n[k]++
	return true
}

func (l *ipLimiter) release(a *[16]byte) {
	k := ipKeyOf(a)
	st := l.stripe(&k)
	st.mu.Lock()
	defer st.mu.Unlock()
	if c := st.n[k] - 1; c > 0 {
		st.n[k] = c
	} else {
		delete(st.n, k)
	}
}

// count is a key's session count (tests).
func (l *ipLimiter) count(a *[16]byte) int32 {
	k := ipKeyOf(a)
	st := l.stripe(&k)
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.n[k]
}
