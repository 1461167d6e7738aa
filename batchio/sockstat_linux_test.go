//go:build linux

package batchio

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestKernelDrops: datagrams past a full receive buffer are dropped by the
// kernel and KernelDrops counts them; the count starts at zero.
func TestKernelDrops(t *testing.T) {
	rx := openLoop(t, Options{RecvBuffer: 4096}).Conn(0)
	tx := openLoop(t, Options{}).Conn(0)
	if n, err := rx.KernelDrops(); err != nil || n != 0 {
		t.Fatalf("fresh socket: drops %d, err %v", n, err)
	}
	// The kernel charges each datagram's whole buffer (truesize, ~1-2 KiB
	// on loopback) against SO_RCVBUF, so 200 of them cannot all fit.
	msgs := make([]Message, 50)
	for i := range msgs {
		msgs[i] = Message{Buf: make([]byte, 512), N: 512, Addr: rx.LocalAddr()}
	}
	for range 4 {
		if _, err := tx.WriteBatch(msgs); err != nil {
			t.Fatal(err)
		}
	}
	n, err := rx.KernelDrops()
	if err != nil || n == 0 || n >= 200 {
		t.Fatalf("after 200 datagrams into a 4 KiB buffer: drops %d, err %v", n, err)
	}
}

// TestSleeps: a read that finds nothing and waits counts one sleep; a read
// that finds a datagram at once counts none.
func TestSleeps(t *testing.T) {
	for _, mode := range waitModes() {
		t.Run(mode.String(), func(t *testing.T) {
			c := openLoop(t, Options{Wait: mode}).Conn(0)
			msgs := []Message{{Buf: make([]byte, 64)}}
			if _, err := c.ReadBatchUntil(msgs, time.Now().Add(time.Millisecond)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal(err)
			}
			if c.Sleeps() != 1 {
				t.Fatalf("sleeps %d after one waiting read", c.Sleeps())
			}
			if _, err := c.WriteBatch([]Message{{Buf: make([]byte, 8), N: 8, Addr: c.LocalAddr()}}); err != nil {
				t.Fatal(err)
			}
			if n, err := c.ReadBatchUntil(msgs, time.Now().Add(5*time.Second)); n != 1 || err != nil {
				t.Fatalf("n %d err %v", n, err)
			}
			// Loopback queues the datagram before WriteBatch returns, so
			// the read finds it without waiting.
			if s := c.Sleeps(); s != 1 {
				t.Fatalf("sleeps %d", s)
			}
		})
	}
}
