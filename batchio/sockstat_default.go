//go:build !linux

package batchio

// KernelDrops is not reported off Linux.
func (c *Conn) KernelDrops() (uint64, error) { return 0, ErrNotSupported }

// Sleeps is not counted off Linux.
func (c *Conn) Sleeps() uint64 { return 0 }

// GSO is off off Linux.
func (s *Set) GSO() (on bool, disabledBy error) { return false, nil }

// KernelDrops is not reported off Linux.
func (s *Set) KernelDrops() (uint64, error) { return 0, ErrNotSupported }

// Sleeps is not counted off Linux.
func (s *Set) Sleeps() uint64 { return 0 }
