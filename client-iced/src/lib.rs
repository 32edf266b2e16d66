//! The Cryptully desktop client on iced: a pure [`model`], one module per [`screen`], the
//! network edge in [`net`], and [`app`] tying them together. The `cryptully` binary only runs
//! [`app::App`].

#![forbid(unsafe_code)]

pub mod app;
pub mod links;
pub mod model;
pub mod net;
pub mod screen;
pub mod widget;
