"""Retrieval evaluation on BEIR data: `ragloom eval`, run files, and IR metrics."""
