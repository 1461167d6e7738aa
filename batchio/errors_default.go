//go:build !linux

package batchio

import (
	"errors"
	"net"
)

// fatal maps a socket error off Linux: a closed socket is net.ErrClosed
// (quietly ends a loop); anything else is returned as the net package gave it.
func (c *Conn) fatal(err error) error {
	if c.closed.Load() || errors.Is(err, net.ErrClosed) {
		return net.ErrClosed
	}
	return err
}
