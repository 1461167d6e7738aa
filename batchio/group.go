package batchio

import "errors"

// Group is a SO_REUSEPORT group of sockets bound to one address.
type Group struct {
	conns []*Conn
	facts Facts
}

// Conns returns the group's sockets; index i is bind order, the index the
// steering program returns. The slice is the Group's: do not modify it.
func (g *Group) Conns() []*Conn { return g.conns }

// Conn returns socket i.
func (g *Group) Conn(i int) *Conn { return g.conns[i] }

// Len is the number of sockets.
func (g *Group) Len() int { return len(g.conns) }

// Facts reports what the kernel granted at Open. Per-socket changes since
// (GSO turned off on EIO) are reported by Conn.GSO.
func (g *Group) Facts() Facts { return g.facts }

// Close closes every socket, waking any reader blocked in ReadBatch, which
// then returns net.ErrClosed. Closing remaps the group's flows, so a group is
// closed as a whole.
func (g *Group) Close() error {
	var errs []error
	for _, c := range g.conns {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
