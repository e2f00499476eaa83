//! Durable hash-chained journal.
