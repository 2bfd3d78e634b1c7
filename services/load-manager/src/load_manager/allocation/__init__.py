"""Site allocation: the pure core (`core`: a site's state, its events, the sharing and the
planning of a round, no I/O) and the allocator as a service, that core run against schema
`loads`, fed by the bus's events, sending its limits through the command path.

`store` reads a site's `SiteState` from its rows and writes it back; `rounds` runs one round
under the site's lock (read, apply the events, plan, queue the SetChargingProfiles, write,
announce); `intake` turns the suite's events into allocation events (`follow_allocation`
receives them); `timer` runs every site's round on a timer (time passing: underuse caps,
offline grace, answers never received); `gauges` and `view` are what it shows.
"""
