//! The sled symptom knowledge base — not implemented yet (issue 6).
