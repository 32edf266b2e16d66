//! The Cryptully desktop client on iced: a pure [`model`], one module per [`screen`], shared
//! [`widget`]s and [`theme`] styles, [`links`] in messages, the network edge in [`net`], the person's
//! [`settings`] and relay [`pins`] (kept with [`files`]), and
//! [`app`] tying them together. The `cryptully` binary only runs
//! [`app::App`].

#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod files;
pub mod identity;
pub mod links;
pub mod model;
pub mod net;
pub mod notify;
pub mod pins;
pub mod screen;
pub mod settings;
pub mod theme;
pub mod widget;
