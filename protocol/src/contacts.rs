//! §12.5 Contacts: what a client remembers of each friend's identity key (§4.7), so that a
//! verification carries over from one chat to the next, and a changed identity is caught.
//!
//! Sans IO: [`Contacts`] decides, [`Contacts::encode`] and [`Contacts::decode`] give the file's
//! text (§12.5 "Storage"); the application reads and writes the file.

use crate::nick::Nick;
use core::fmt;
use std::collections::BTreeMap;

/// What is remembered of one nickname (§12.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// The identity public key its last chat proved (§4.7).
    pub identity: [u8; 32],
    /// When the person verified that key (safety code or SMP), in seconds since the Unix epoch;
    /// `None` for a key only seen, never verified.
    pub verified_at: Option<u64>,
}

/// How a new chat's proven identity compares with what is remembered (§12.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recognition {
    /// The first chat with this nickname: the key is remembered, unverified.
    New,
    /// The same key as before, never verified: the chat starts unverified.
    Known,
    /// The same key the person verified at this time: the chat is verified at once.
    Verified {
        /// When, in seconds since the Unix epoch.
        since: u64,
    },
    /// Another key than the one remembered. When the old one was verified
    /// (`was_verified` is set), nothing may be sent until the person verifies again or accepts
    /// the new key: this may not be the same person [12.5-3]. An unverified key is replaced at
    /// once and the change reported.
    Changed {
        /// When the old key was verified, if it was.
        was_verified: Option<u64>,
    },
}

impl Recognition {
    /// Whether the chat must stay blocked until the person decides [12.5-3].
    pub fn blocks(self) -> bool {
        matches!(
            self,
            Self::Changed {
                was_verified: Some(_)
            }
        )
    }
}

/// Every remembered nickname, by canonical form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contacts(BTreeMap<Nick, Contact>);

/// The first line of a contacts file (§12.5).
pub const CONTACTS_HEADER: &str = "cryptully contacts 1";
/// The first line of an identity file (§12.5).
pub const IDENTITY_HEADER: &str = "cryptully identity 1";

/// Why a contacts or identity file's text cannot be used. The file is never rewritten over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    /// The line, counted from 1.
    pub line: usize,
    /// What is wrong with it.
    pub what: &'static str,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for StoreError {}

impl Contacts {
    /// Compares the identity a new chat with `peer` proved with what is remembered, and
    /// remembers it unless it replaces a verified key (§12.5).
    pub fn recognise(&mut self, peer: &Nick, identity: &[u8; 32]) -> Recognition {
        let peer = peer.canonical();
        match self.0.get(&peer) {
            None => {
                self.0.insert(
                    peer,
                    Contact {
                        identity: *identity,
                        verified_at: None,
                    },
                );
                Recognition::New
            }
            Some(c) if c.identity == *identity => match c.verified_at {
                Some(since) => Recognition::Verified { since },
                None => Recognition::Known,
            },
            Some(c) => {
                let was_verified = c.verified_at;
                if was_verified.is_none() {
                    self.accept(&peer, identity);
                }
                Recognition::Changed { was_verified }
            }
        }
    }

    /// The person verified `peer`'s `identity` at `now` (seconds since the Unix epoch): by a
    /// matching safety code or a matching answer (§5.5, §8).
    pub fn mark_verified(&mut self, peer: &Nick, identity: &[u8; 32], now: u64) {
        self.0.insert(
            peer.canonical(),
            Contact {
                identity: *identity,
                verified_at: Some(now),
            },
        );
    }

    /// The person chose to go on with a changed key without verifying it: it replaces the old
    /// one, unverified.
    pub fn accept(&mut self, peer: &Nick, identity: &[u8; 32]) {
        self.0.insert(
            peer.canonical(),
            Contact {
                identity: *identity,
                verified_at: None,
            },
        );
    }

    /// Forgets `peer`; whether it was remembered.
    pub fn forget(&mut self, peer: &Nick) -> bool {
        self.0.remove(&peer.canonical()).is_some()
    }

    /// What is remembered of `peer`.
    pub fn get(&self, peer: &Nick) -> Option<&Contact> {
        self.0.get(&peer.canonical())
    }

    /// Every contact, in nickname order.
    pub fn iter(&self) -> impl Iterator<Item = (&Nick, &Contact)> {
        self.0.iter()
    }

    /// The file's text (§12.5): the header, then one line per contact,
    /// `NICK IDENTITY_HEX VERIFIED_AT` with `-` for never verified.
    pub fn encode(&self) -> String {
        let mut out = format!("{CONTACTS_HEADER}\n");
        for (nick, c) in &self.0 {
            let when = c
                .verified_at
                .map_or_else(|| "-".to_string(), |t| t.to_string());
            out.push_str(&format!("{nick} {} {when}\n", to_hex(&c.identity)));
        }
        out
    }

    /// Reads a contacts file's text; any line that does not parse is an error naming it.
    pub fn decode(text: &str) -> Result<Self, StoreError> {
        let mut lines = text.lines().enumerate();
        header(&mut lines, CONTACTS_HEADER)?;
        let mut map = BTreeMap::new();
        for (n, line) in lines {
            let fail = |what| StoreError { line: n + 1, what };
            if line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split(' ');
            let (Some(nick), Some(key), Some(when), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(fail("not NICK IDENTITY VERIFIED_AT"));
            };
            let nick = Nick::new(nick).map_err(|_| fail("not a nickname"))?;
            let identity = from_hex(key).ok_or(fail("not an identity key (64 hex digits)"))?;
            let verified_at = match when {
                "-" => None,
                t => Some(t.parse().map_err(|_| fail("not a time or -"))?),
            };
            if map
                .insert(
                    nick.canonical(),
                    Contact {
                        identity,
                        verified_at,
                    },
                )
                .is_some()
            {
                return Err(fail("a nickname listed twice"));
            }
        }
        Ok(Self(map))
    }
}

/// An identity file's text (§12.5): the header, then the private key in hex. Secret.
pub fn encode_identity(private: &[u8; 32]) -> zeroize::Zeroizing<String> {
    // Built in one buffer of its final size, so no copy of the key's digits is left unerased.
    let mut out = zeroize::Zeroizing::new(String::with_capacity(IDENTITY_HEADER.len() + 66));
    out.push_str(IDENTITY_HEADER);
    out.push('\n');
    for b in private {
        for nibble in [b >> 4, b & 0x0f] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out.push('\n');
    out
}

/// Reads an identity file's text: the private key.
pub fn decode_identity(text: &str) -> Result<zeroize::Zeroizing<[u8; 32]>, StoreError> {
    let mut lines = text.lines().enumerate();
    header(&mut lines, IDENTITY_HEADER)?;
    let key = lines
        .next()
        .and_then(|(_, l)| from_hex(l.trim()))
        .map(zeroize::Zeroizing::new)
        .ok_or(StoreError {
            line: 2,
            what: "not a private key (64 hex digits)",
        })?;
    match lines.find(|(_, l)| !l.trim().is_empty()) {
        Some((n, _)) => Err(StoreError {
            line: n + 1,
            what: "nothing may follow the key",
        }),
        None => Ok(key),
    }
}

/// A verification time as a calendar date in UTC, `2026-03-12`, for "same identity as when you
/// verified on ..." (§12.5 [12.5-2]).
pub fn date(secs: u64) -> String {
    // Days to civil date (H. Hinnant's algorithm), for the proleptic Gregorian calendar.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn header<'a>(
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
    want: &'static str,
) -> Result<(), StoreError> {
    match lines.next() {
        Some((_, l)) if l.trim_end() == want => Ok(()),
        _ => Err(StoreError {
            line: 1,
            what: if want == CONTACTS_HEADER {
                "the first line is not \"cryptully contacts 1\""
            } else {
                "the first line is not \"cryptully identity 1\""
            },
        }),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        // Hex digits only: `from_str_radix` would also take a sign.
        let digit = |c: u8| char::from(c).to_digit(16);
        let &[hi, lo] = pair else {
            return None;
        };
        *byte = u8::try_from(digit(hi)? << 4 | digit(lo)?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(s: &str) -> Nick {
        Nick::new(s).unwrap()
    }

    #[test]
    fn contacts_12_5_a_verified_identity_carries_over_and_a_changed_one_blocks() {
        let mut c = Contacts::default();
        assert_eq!(c.recognise(&nick("Bob"), &[1; 32]), Recognition::New);
        assert_eq!(c.recognise(&nick("bob"), &[1; 32]), Recognition::Known);
        c.mark_verified(&nick("bob"), &[1; 32], 1_700_000_000);
        assert_eq!(
            c.recognise(&nick("BOB"), &[1; 32]),
            Recognition::Verified {
                since: 1_700_000_000
            }
        );
        let changed = c.recognise(&nick("bob"), &[2; 32]);
        assert_eq!(
            changed,
            Recognition::Changed {
                was_verified: Some(1_700_000_000)
            }
        );
        assert!(changed.blocks());
        // The verified key stays until the person decides.
        assert_eq!(c.get(&nick("bob")).unwrap().identity, [1; 32]);
        c.accept(&nick("bob"), &[2; 32]);
        assert_eq!(c.recognise(&nick("bob"), &[2; 32]), Recognition::Known);
    }

    #[test]
    fn contacts_12_5_an_unverified_change_is_reported_and_replaces_the_key() {
        let mut c = Contacts::default();
        c.recognise(&nick("bob"), &[1; 32]);
        let changed = c.recognise(&nick("bob"), &[2; 32]);
        assert_eq!(changed, Recognition::Changed { was_verified: None });
        assert!(!changed.blocks());
        assert_eq!(c.recognise(&nick("bob"), &[2; 32]), Recognition::Known);
    }

    #[test]
    fn contacts_12_5_the_file_round_trips_and_bad_lines_are_named() {
        let mut c = Contacts::default();
        c.recognise(&nick("alice"), &[0xab; 32]);
        c.mark_verified(&nick("bob"), &[0x01; 32], 42);
        let text = c.encode();
        assert!(text.starts_with("cryptully contacts 1\nalice abab"));
        assert_eq!(Contacts::decode(&text), Ok(c));
        let bad = format!("{CONTACTS_HEADER}\nbob {} soon\n", "01".repeat(32));
        assert_eq!(Contacts::decode(&bad).unwrap_err().line, 2);
        assert_eq!(Contacts::decode("garbage").unwrap_err().line, 1);
        let twice = format!(
            "{CONTACTS_HEADER}\nbob {} -\nBob {} -\n",
            "01".repeat(32),
            "02".repeat(32)
        );
        assert_eq!(Contacts::decode(&twice).unwrap_err().line, 3);
    }

    #[test]
    fn contacts_12_5_dates_are_calendar_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_773_273_600), "2026-03-12");
    }

    #[test]
    fn contacts_12_5_the_identity_file_round_trips() {
        let text = encode_identity(&[7; 32]);
        assert_eq!(*decode_identity(&text).unwrap(), [7; 32]);
        assert!(decode_identity("cryptully identity 1\nzz\n").is_err());
        let signed = format!("cryptully identity 1\n+1{}\n", "00".repeat(31));
        assert!(
            decode_identity(&signed).is_err(),
            "a sign is not a hex digit"
        );
        assert!(decode_identity(&format!("{}x\n", &*text)).is_err());
    }
}
