"""What every room of the service shares: Redis names and TTLs, the Redis client and its locks."""
