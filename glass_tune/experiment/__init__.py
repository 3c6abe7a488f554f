"""What a search leaves behind, read back: storage (local path or URI), trial records and outcomes,
the best trial, summaries, status, and opening an experiment for report/export/predict."""
