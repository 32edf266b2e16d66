//! §3 Relay protocol: the messages between a client and the relay.
//!
//! Client to relay: [`ClientMessage`]; relay to client: [`RelayMessage`]. Each decodes from and
//! encodes to one frame body (§2.1), strictly and canonically (§2.2).

use crate::codec::{DecodeError, Reader, put_nick};
use crate::errors::ErrorCode;
use crate::nick::Nick;

/// Message type codes (§3.1).
mod ty {
    pub(super) const HELLO: u8 = 0x01;
    pub(super) const REGISTER: u8 = 0x02;
    pub(super) const RELAY: u8 = 0x03;
    pub(super) const PING: u8 = 0x04;
    pub(super) const BYE: u8 = 0x05;
    pub(super) const REGISTERED: u8 = 0x81;
    pub(super) const DELIVER: u8 = 0x82;
    pub(super) const ERROR: u8 = 0x83;
    pub(super) const PONG: u8 = 0x84;
    pub(super) const PEER_GONE: u8 = 0x85;
    pub(super) const SHUTDOWN: u8 = 0x86;
}

/// A message from a client to the relay (§3.1), in spec order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// §3.3 HELLO: the relay protocol version the client speaks.
    Hello {
        /// The version, [`crate::versioning::RELAY_VERSION`] for this crate.
        version: u16,
    },
    /// §3.4 REGISTER: the nickname wanted.
    Register {
        /// Any case; the relay registers the canonical form.
        nick: Nick,
    },
    /// §3.5 RELAY: an opaque payload for another nickname.
    Relay {
        /// The destination nickname.
        destination: Nick,
        /// A peer message (§4.1), never parsed by the relay. At least one byte.
        payload: Vec<u8>,
    },
    /// §3.7 PING: a token the relay echoes in PONG.
    Ping {
        /// Chosen by the client.
        token: u64,
    },
    /// §3.8 BYE: the client is leaving.
    Bye,
}

/// A message from the relay to a client (§3.1), in spec order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayMessage {
    /// §3.4 REGISTERED: the canonical nickname this connection now holds.
    Registered {
        /// Canonical form.
        nick: Nick,
    },
    /// §3.5 DELIVER: a payload from another nickname, named by the relay.
    Deliver {
        /// The sender as registered at the relay, canonical.
        source: Nick,
        /// The RELAY's payload, unchanged.
        payload: Vec<u8>,
    },
    /// §3.6 ERROR.
    Error {
        /// What went wrong (§9.1).
        code: ErrorCode,
        /// The nickname it is about, if any.
        nick: Option<Nick>,
    },
    /// §3.7 PONG: the token of the PING it answers.
    Pong {
        /// Echoed from PING.
        token: u64,
    },
    /// §3.9 PEER_GONE: a nickname this client talked with disconnected.
    PeerGone {
        /// Canonical form.
        nick: Nick,
    },
    /// §3.8 SHUTDOWN: the relay is stopping.
    Shutdown,
}

impl ClientMessage {
    /// Decodes one frame body (§2.2).
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let msg = match r.u8("type").map_err(|_| DecodeError::Empty)? {
            ty::HELLO => Self::Hello {
                version: r.u16("version")?,
            },
            ty::REGISTER => Self::Register {
                nick: r.nick("nick")?,
            },
            ty::RELAY => Self::Relay {
                destination: r.nick("destination")?,
                payload: r.rest_nonempty("payload")?.to_vec(),
            },
            ty::PING => Self::Ping {
                token: r.u64("token")?,
            },
            ty::BYE => Self::Bye,
            other => return Err(DecodeError::UnknownType(other)),
        };
        r.finish()?;
        Ok(msg)
    }

    /// Appends the frame body to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Hello { version } => {
                out.push(ty::HELLO);
                out.extend_from_slice(&version.to_be_bytes());
            }
            Self::Register { nick } => {
                out.push(ty::REGISTER);
                put_nick(out, nick);
            }
            Self::Relay {
                destination,
                payload,
            } => {
                out.push(ty::RELAY);
                put_nick(out, destination);
                out.extend_from_slice(payload);
            }
            Self::Ping { token } => {
                out.push(ty::PING);
                out.extend_from_slice(&token.to_be_bytes());
            }
            Self::Bye => out.push(ty::BYE),
        }
    }

    /// The frame body as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// The spec's name of the message, e.g. `RELAY`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "HELLO",
            Self::Register { .. } => "REGISTER",
            Self::Relay { .. } => "RELAY",
            Self::Ping { .. } => "PING",
            Self::Bye => "BYE",
        }
    }
}

impl RelayMessage {
    /// Decodes one frame body (§2.2).
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let msg = match r.u8("type").map_err(|_| DecodeError::Empty)? {
            ty::REGISTERED => Self::Registered {
                nick: r.nick("nick")?,
            },
            ty::DELIVER => Self::Deliver {
                source: r.nick("source")?,
                payload: r.rest_nonempty("payload")?.to_vec(),
            },
            ty::ERROR => Self::Error {
                code: ErrorCode::from_u8(r.u8("code")?)?,
                nick: r.optional_nick("nick")?,
            },
            ty::PONG => Self::Pong {
                token: r.u64("token")?,
            },
            ty::PEER_GONE => Self::PeerGone {
                nick: r.nick("nick")?,
            },
            ty::SHUTDOWN => Self::Shutdown,
            other => return Err(DecodeError::UnknownType(other)),
        };
        r.finish()?;
        Ok(msg)
    }

    /// Appends the frame body to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Registered { nick } => {
                out.push(ty::REGISTERED);
                put_nick(out, nick);
            }
            Self::Deliver { source, payload } => {
                out.push(ty::DELIVER);
                put_nick(out, source);
                out.extend_from_slice(payload);
            }
            Self::Error { code, nick } => {
                out.push(ty::ERROR);
                out.push(code.to_u8());
                match nick {
                    Some(nick) => put_nick(out, nick),
                    None => out.push(0),
                }
            }
            Self::Pong { token } => {
                out.push(ty::PONG);
                out.extend_from_slice(&token.to_be_bytes());
            }
            Self::PeerGone { nick } => {
                out.push(ty::PEER_GONE);
                put_nick(out, nick);
            }
            Self::Shutdown => out.push(ty::SHUTDOWN),
        }
    }

    /// The frame body as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// The spec's name of the message, e.g. `DELIVER`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Registered { .. } => "REGISTERED",
            Self::Deliver { .. } => "DELIVER",
            Self::Error { .. } => "ERROR",
            Self::Pong { .. } => "PONG",
            Self::PeerGone { .. } => "PEER_GONE",
            Self::Shutdown => "SHUTDOWN",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §3.11 [3.11-2]: the nick of an ERROR is informational; any code decodes with or without.
    #[test]
    fn relay_3_11_error_nick_presence_is_not_a_decoding_rule() {
        for code in ErrorCode::ALL {
            for nick in [None, Some(nick("bob"))] {
                let msg = RelayMessage::Error {
                    code,
                    nick: nick.clone(),
                };
                let mut body = Vec::new();
                msg.encode(&mut body);
                assert_eq!(RelayMessage::decode(&body), Ok(msg), "{code:?} {nick:?}");
            }
        }
    }

    fn nick(s: &str) -> Nick {
        Nick::new(s).unwrap()
    }

    #[test]
    fn relay_3_5_relay_layout_matches_the_table() {
        let m = ClientMessage::Relay {
            destination: nick("Bob"),
            payload: vec![0x10, 0xaa],
        };
        assert_eq!(m.to_bytes(), [0x03, 3, b'B', b'o', b'b', 0x10, 0xaa]);
        assert_eq!(ClientMessage::decode(&m.to_bytes()), Ok(m));
    }

    #[test]
    fn relay_3_5_rejects_empty_payload() {
        assert_eq!(
            ClientMessage::decode(&[0x03, 1, b'b']),
            Err(DecodeError::Truncated("payload"))
        );
    }

    #[test]
    fn relay_3_1_rejects_direction_mismatch_as_unknown_type() {
        assert_eq!(
            RelayMessage::decode(&[0x05]),
            Err(DecodeError::UnknownType(0x05))
        );
        assert_eq!(
            ClientMessage::decode(&[0x86]),
            Err(DecodeError::UnknownType(0x86))
        );
    }

    #[test]
    fn relay_3_6_error_nick_is_optional_and_code_must_be_known() {
        let m = RelayMessage::Error {
            code: ErrorCode::Malformed,
            nick: None,
        };
        assert_eq!(m.to_bytes(), [0x83, 0x02, 0]);
        assert_eq!(RelayMessage::decode(&[0x83, 0x02, 0]), Ok(m));
        assert_eq!(
            RelayMessage::decode(&[0x83, 0x00, 0]),
            Err(DecodeError::InvalidValue("error code"))
        );
        assert_eq!(
            RelayMessage::decode(&[0x83, 0x02]),
            Err(DecodeError::Truncated("nick"))
        );
    }

    #[test]
    fn relay_3_3_rejects_trailing_bytes() {
        assert_eq!(
            ClientMessage::decode(&[0x01, 0, 2, 0]),
            Err(DecodeError::TrailingBytes)
        );
        assert_eq!(ClientMessage::decode(&[]), Err(DecodeError::Empty));
    }
}
