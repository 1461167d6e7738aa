//go:build !linux

package batchio

// KernelDrops is not reported off Linux.
func (c *Conn) KernelDrops() (uint64, error) { return 0, ErrNotSupported }

// Sleeps is not counted off Linux.
func (c *Conn) Sleeps() uint64 { return 0 }
