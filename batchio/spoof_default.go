//go:build !linux

package batchio

import "net/netip"

// Spoofer sends datagrams with forged sources; Linux only.
type Spoofer struct{}

// OpenSpoofer returns ErrNotSupported off Linux.
func OpenSpoofer() (*Spoofer, error) { return nil, ErrNotSupported }

// WriteTo is never reached: OpenSpoofer fails.
func (s *Spoofer) WriteTo(payload []byte, src, dst netip.AddrPort) error { return ErrNotSupported }

// Close does nothing.
func (s *Spoofer) Close() error { return nil }
