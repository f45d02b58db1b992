"""decontam stage: benchmark n-grams found in documents or generations."""
