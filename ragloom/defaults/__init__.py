"""Built-in configurations: the default RAG pipeline the CLI uses without `-c`."""
