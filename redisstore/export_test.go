package redisstore

// SetBudget changes how many users one maintenance call visits, so tests
// can exercise the batching with few users.
func SetBudget(s *Store, n int) { s.budget = n }
