//! Sample events shared by the unit tests.

/// An update of a book, as `examples/events/book-update.json`.
pub(crate) const BOOK_UPDATE: &str = r#"{
  "version": "0",
  "id": "0d1f0c43-7c5e-4a0b-9a3f-2f4f1b6c8e21",
  "detail-type": "Object State Change",
  "source": "com.example.library",
  "account": "123456789012",
  "time": "2026-11-25T10:30:00Z",
  "region": "eu-west-1",
  "resources": ["arn:aws:dynamodb:eu-west-1:123456789012:table/books"],
  "detail": {
    "entity-type": "book",
    "entity-id": "978-0-13-468599-1",
    "operation": "update",
    "ts": "2026-11-25T10:30:00Z",
    "author": "bob@example.com",
    "data": {
      "isbn": "978-0-13-468599-1",
      "title": "The Rust Programming Language",
      "authors": ["Steve Klabnik", "Carol Nichols"],
      "year": 2023,
      "copies": 2,
      "shelf": "B-14"
    }
  }
}"#;

/// The event for `detail`, with the envelope of [`BOOK_UPDATE`].
pub(crate) fn event_with_detail(detail: serde_json::Value) -> crate::Event {
    let mut event = crate::Event::from_json(BOOK_UPDATE).expect("sample event parses");
    event.detail = detail.to_string();
    event
}
