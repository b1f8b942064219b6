package journal

// CommitCount returns the number of transactions b has attempted.
func CommitCount(b *Bolt) uint64 { return b.commits.Load() }
