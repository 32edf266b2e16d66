//! The Cryptully reference relay (spec §3). Placeholder: the relay is built in its own issue; this
//! crate exists so the workspace layout is in place.

#![forbid(unsafe_code)]
