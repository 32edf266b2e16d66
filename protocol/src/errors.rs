//! §9 Error codes: the relay's ERROR codes (§9.1) and the peer's REJ reasons (§9.2).

use crate::codec::DecodeError;
use core::fmt;

/// An ERROR code sent by the relay (§9.1), in spec order.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0x01: the relay does not speak the client's version.
    UnsupportedVersion,
    /// 0x02: a frame could not be decoded.
    Malformed,
    /// 0x03: a length prefix above the limit.
    FrameTooLarge,
    /// 0x04: a message not allowed in the connection's state.
    UnexpectedMessage,
    /// 0x05: the nickname breaks §3.2.
    InvalidNick,
    /// 0x06: someone holds that nickname.
    NickInUse,
    /// 0x07: nobody with that nickname is connected.
    NickNotFound,
    /// 0x08: too many messages or bytes; the frame was dropped.
    RateLimited,
    /// 0x09: a connection's outbound queue overflowed.
    SlowConsumer,
    /// 0x0A: the relay holds its maximum number of connections.
    ServerFull,
    /// 0x0B: no REGISTER in time, or idle too long.
    Timeout,
}

impl ErrorCode {
    /// Every code, in spec order.
    pub const ALL: [ErrorCode; 11] = [
        Self::UnsupportedVersion,
        Self::Malformed,
        Self::FrameTooLarge,
        Self::UnexpectedMessage,
        Self::InvalidNick,
        Self::NickInUse,
        Self::NickNotFound,
        Self::RateLimited,
        Self::SlowConsumer,
        Self::ServerFull,
        Self::Timeout,
    ];

    /// The code point on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::UnsupportedVersion => 0x01,
            Self::Malformed => 0x02,
            Self::FrameTooLarge => 0x03,
            Self::UnexpectedMessage => 0x04,
            Self::InvalidNick => 0x05,
            Self::NickInUse => 0x06,
            Self::NickNotFound => 0x07,
            Self::RateLimited => 0x08,
            Self::SlowConsumer => 0x09,
            Self::ServerFull => 0x0a,
            Self::Timeout => 0x0b,
        }
    }

    /// Parses a code point; unknown codes are a decode error (§9.1).
    pub fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Self::ALL
            .into_iter()
            .find(|c| c.to_u8() == v)
            .ok_or(DecodeError::InvalidValue("error code"))
    }

    /// The spec's name, e.g. `NICK_IN_USE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::UnsupportedVersion => "UNSUPPORTED_VERSION",
            Self::Malformed => "MALFORMED",
            Self::FrameTooLarge => "FRAME_TOO_LARGE",
            Self::UnexpectedMessage => "UNEXPECTED_MESSAGE",
            Self::InvalidNick => "INVALID_NICK",
            Self::NickInUse => "NICK_IN_USE",
            Self::NickNotFound => "NICK_NOT_FOUND",
            Self::RateLimited => "RATE_LIMITED",
            Self::SlowConsumer => "SLOW_CONSUMER",
            Self::ServerFull => "SERVER_FULL",
            Self::Timeout => "TIMEOUT",
        }
    }

    /// Whether the relay closes the connection after sending this code (§9.1). SLOW_CONSUMER
    /// closes only the slow connection itself, which gets it without a nickname.
    pub fn closes_connection(self, has_nick: bool) -> bool {
        match self {
            Self::InvalidNick | Self::NickInUse | Self::NickNotFound | Self::RateLimited => false,
            Self::SlowConsumer => !has_nick,
            _ => true,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::UnsupportedVersion => "the relay does not speak this client's protocol version",
            Self::Malformed => "the relay could not decode a message",
            Self::FrameTooLarge => "a message was larger than the relay accepts",
            Self::UnexpectedMessage => "a message was sent out of order",
            Self::InvalidNick => {
                "invalid nickname: use 1 to 32 characters of A-Z, a-z, 0-9, _ and -"
            }
            Self::NickInUse => "that nickname is taken; pick another",
            Self::NickNotFound => "nobody with that nickname is connected",
            Self::RateLimited => "too many messages too fast; a message was dropped",
            Self::SlowConsumer => "a connection could not keep up and was dropped",
            Self::ServerFull => "the relay is full; try again later",
            Self::Timeout => "the connection timed out",
        };
        write!(f, "{} ({text})", self.name())
    }
}

/// Why a responder rejected a HELO (§9.2).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// 0x01: the person said no.
    Declined,
    /// 0x02: the client cannot take another session with this nickname now.
    Busy,
    /// 0x03: the HELO's version is not spoken.
    UnsupportedVersion,
    /// 0x04: the handshake failed a check on the sender's side (PUB_KEY does not open the
    /// commitment, or a public key is of low order, §4.4): the chat cannot be secured.
    HandshakeFailed,
}

impl RejectReason {
    /// Every reason, in spec order.
    pub const ALL: [RejectReason; 4] = [
        Self::Declined,
        Self::Busy,
        Self::UnsupportedVersion,
        Self::HandshakeFailed,
    ];

    /// The code point on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Declined => 0x01,
            Self::Busy => 0x02,
            Self::UnsupportedVersion => 0x03,
            Self::HandshakeFailed => 0x04,
        }
    }

    /// Parses a code point; unknown reasons are a decode error.
    pub fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Self::ALL
            .into_iter()
            .find(|r| r.to_u8() == v)
            .ok_or(DecodeError::InvalidValue("reject reason"))
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Declined => "declined the chat",
            Self::Busy => "is busy and cannot chat now",
            Self::UnsupportedVersion => "uses an incompatible version of Cryptully",
            Self::HandshakeFailed => {
                "could not secure the chat: the keys did not check out, so someone may be interfering"
            }
        })
    }
}
