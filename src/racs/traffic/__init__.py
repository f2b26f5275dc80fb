"""Real traffic: importers that read what teams already log, as a stream of requests."""
