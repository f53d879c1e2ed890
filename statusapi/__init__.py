"""The status API: a Flask sidecar that schedules scans on scrapyd and reports their results."""
