// Package eqgate is a UDP frontend for the EverQuest-family session protocol
// (EQEmu's reliable stream). It runs one shard per core, each owning one
// SO_REUSEPORT socket read with recvmmsg and written with sendmmsg, its
// sessions, its timer wheel and its pools, with no lock shared between shards.
//
// Handlers run on the owning shard's goroutine; other goroutines reach a
// session through the shard's inbox.
package eqgate
