// Package batchio is eqgate's only door to the kernel: it opens a
// SO_REUSEPORT group of UDP sockets (one per shard), reads and writes them in
// batches with recvmmsg/sendmmsg, sets socket options, attaches the reuseport
// steering program and probes UDP GSO/GRO. Off Linux a portable fallback with
// the same API moves one datagram per call through net.UDPConn.
//
// Model. Open returns a Group of N sockets bound to one address; index i is
// bind order, which is also the index the kernel's steering program returns.
// Route is the fixed hash of a client's address and port that the steering
// program computes identically, so Owner(ap, N) names the socket (and so the
// shard) the kernel delivers that endpoint's datagrams to.
//
// A Set gathers one goroutine's sockets: a Group's Conn plus member sockets
// bound one by one to ephemeral ports (one per client session, each its own
// endpoint), read and written with the same calls, through one epoll
// instance that sleeps in Go's netpoller, so many sockets cost one wake-up.
//
// Buffer ownership. ReadBatch and WriteBatch move bytes into and out of
// buffers the caller owns (Message.Buf); batchio keeps no reference it will
// use after the call returns. Message headers, iovecs, socket-address storage
// and control-message space are built once per batch slot at Open and reused,
// so a warm ReadBatch or WriteBatch allocates nothing.
//
// Concurrency. A Conn has one reader and one writer at a time (normally the
// same shard goroutine). Wake, Facts and Close are safe from any goroutine.
// A reader sleeps in the kernel when idle; Wake or the deadline given to
// ReadBatchUntil ends the sleep, reported as ErrWakeup or
// os.ErrDeadlineExceeded.
package batchio
