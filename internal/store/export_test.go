package store

// WithMarkStride makes a long skip through a list leave marks every n
// rows (tests use a small n to exercise the seeks on a small list).
func WithMarkStride(n int) Option { return func(s *Store) { s.markStride = n } }
