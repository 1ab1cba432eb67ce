"""What ops read: Prometheus metrics, pipeline counters and structured logs."""
