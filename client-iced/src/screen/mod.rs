//! The screens, each with its own state, messages, update and view.

pub mod chats;
pub mod connect;
