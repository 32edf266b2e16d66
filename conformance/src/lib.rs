//! The Cryptully conformance suite (spec §2–§8). Placeholder: built in its own issue; this crate
//! exists so the workspace layout is in place.

#![forbid(unsafe_code)]
