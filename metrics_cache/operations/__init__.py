"""Running the service: health, Prometheus, doctor, system checks and the beat schedule."""
