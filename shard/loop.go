package shard

import "time"

// cachePad keeps what precedes and follows it on different cache lines:
// 128 bytes, as ring's padding, because Intel's spatial prefetcher pulls
// lines in adjacent pairs.
type cachePad [128]byte

// Loop pauses. A socket error other than close is the kernel's (ENOMEM,
// ENOBUFS, ...): retrying at once would spin on it, so the loop pauses,
// doubling from 250 µs to 16 ms while the errors repeat; timers and the
// inbox still run between reads, up to that much late. A shard whose every
// buffer is lent to peers pauses from 20 µs to 1 ms (the inbox's latency
// bound) while the peers hold them, instead of spinning on Gosched.
const (
	errPauseMin    = 250 * time.Microsecond
	errPauseMax    = 16 * time.Millisecond
	starvePauseMin = 20 * time.Microsecond
	starvePauseMax = time.Millisecond
)

// backoff is a pause that doubles from min to max while what it paces keeps
// failing; reset starts it over.
type backoff struct{ d, min, max time.Duration }

func (b *backoff) next() time.Duration {
	b.d = min(max(2*b.d, b.min), b.max)
	return b.d
}

func (b *backoff) reset() { b.d = 0 }

// maxInboxRounds bounds the inbox work of one loop iteration to this many
// PopN batches (64 items each): a producer that keeps the inbox full cannot
// keep the shard from its socket. What is left stays queued, and the loop
// does not sleep while it is (sleepUntil).
const maxInboxRounds = 4
