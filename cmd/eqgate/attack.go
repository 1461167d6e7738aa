package main

import (
	"log/slog"
	"time"
)

// attackLog turns each server's under-attack gauge (eqgate.Stats.UnderAttack)
// into log lines when it starts and ends, at most one line per server per
// attackLogGap however fast the state flaps.
type attackLog struct {
	logged []bool
	at     []time.Time
}

const attackLogGap = 10 * time.Second

func (a *attackLog) check(log *slog.Logger, servers []watched, now time.Time) {
	for len(a.logged) < len(servers) {
		a.logged = append(a.logged, false)
		a.at = append(a.at, time.Time{})
	}
	for i, srv := range servers {
		st := srv.Stats().Total
		on := st.UnderAttack > 0
		if on == a.logged[i] || now.Sub(a.at[i]) < attackLogGap {
			continue
		}
		a.logged[i], a.at[i] = on, now
		if on {
			log.Warn("under attack", "listen", srv.Addr().String(), "shards", st.UnderAttack,
				"unproven_per_second", st.UnprovenRate, "responses", st.Responded, "sessions_open", st.SessionsOpen)
		} else {
			log.Info("attack over", "listen", srv.Addr().String(), "unproven_per_second", st.UnprovenRate, "sessions_open", st.SessionsOpen)
		}
	}
}
