package webhooks

// SetMaxDead lowers the bound of dead letters kept per endpoint.
func SetMaxDead(s State, n int) {
	switch s := s.(type) {
	case *MemState:
		s.maxDead = n
	case *RedisState:
		s.maxDead = n
	}
}
