"""Cheap quality rules (Gopher, C4, FineWeb, code), language identification and PII redaction: pure functions
over text, run before any model-based filter sees a document."""
