"""The operator process: kopf wiring (`handlers`), wake-ups (`waker`), Events (`events`),
Prometheus metrics (`telemetry`), the log filter and the entry point (`main`)."""
