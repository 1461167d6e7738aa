// Package zlibref measures eqgate's compression pass against the zlib calls
// EQEmu's reliable stream makes for the same pass, in one process, on the
// same datagrams: the reference the compressed-path goal of issue 15 is set
// against, which no EQEmu server on the benchmark box can give.
//
// EQEmu's reliable stream (ReliableStreamConnection) compresses each
// datagram with a fresh zlib stream at level 1 (deflateInit, deflate,
// deflateEnd), and sends 0x5a and the stream for a region over 30 bytes
// when the stream is shorter, 0xa5 and the region otherwise (SPEC §8.2). It
// inflates each one with a fresh stream too (inflateInit2 with 15 window
// bits, inflate, inflateEnd). The older DaybreakConnection, like LEGACY
// (SPEC §21.3), passed Z_FINISH where the level belongs, so deflated at
// level 4, and sent 0x5a even when the stream came out longer:
// CompressLegacy. This package makes exactly those calls through cgo
// against the system's C zlib. The rest of EQEmu's packet handling (its
// buffer copies, libuv, the session) is not in it, so its figures are what
// the codec alone costs.
//
// It needs cgo and zlib's headers, so it builds only with the zlibref tag:
//
//	apt-get install -y zlib1g-dev   # gcc and zlib.h
//	go test -tags zlibref ./bench/zlibref                             # C zlib and the Coder inflate each other's datagrams
//	go test -tags zlibref ./bench/zlibref -run '^$' -fuzz FuzzCZlibInflate # and agree on any stream
//	go test -tags zlibref ./bench/zlibref -run '^$' -bench . -count 6 # the codec per datagram, both sides
//
// CI runs the tests and the fuzz target (.ci/run, .ci/fuzz); bench/RESULTS.md
// has the figures.
package zlibref
