//! Links in messages: finding them in text, and handing one to the system's browser.
//!
//! Only `http://` and `https://` addresses become links. A message comes from another person, so
//! nothing else (files, other programs' schemes) is ever opened by a click.

use std::io;

/// A run of a message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Plain text.
    Text(&'a str),
    /// A web address, clickable.
    Link(&'a str),
    /// Emoji, drawn with the colour emoji font: the text font has black-and-white glyphs for
    /// some (😀, ❤, ☀), which would win over the fallback (issue 15, item 15).
    Emoji(&'a str),
}

/// Splits `text` into plain runs, emoji and web addresses. Joining the pieces gives `text`
/// back.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some((start, end)) = next_link(rest) {
        let (before, tail) = rest.split_at(start);
        let (link, after) = tail.split_at(end - start);
        push_text(&mut out, before);
        out.push(Piece::Link(link));
        rest = after;
    }
    push_text(&mut out, rest);
    out
}

/// Pushes `text` as runs of plain text and of emoji.
fn push_text<'a>(out: &mut Vec<Piece<'a>>, text: &'a str) {
    let mut start = 0;
    let mut emoji = false;
    for (at, c) in text.char_indices() {
        // A joiner or a variation selector stays with the run it is in.
        let this = if matches!(c, '\u{200d}' | '\u{fe0f}') {
            emoji
        } else {
            is_emoji(c)
        };
        if this != emoji {
            if let Some(run) = text.get(start..at).filter(|r| !r.is_empty()) {
                out.push(if emoji {
                    Piece::Emoji(run)
                } else {
                    Piece::Text(run)
                });
            }
            start = at;
            emoji = this;
        }
    }
    if let Some(run) = text.get(start..).filter(|r| !r.is_empty()) {
        out.push(if emoji {
            Piece::Emoji(run)
        } else {
            Piece::Text(run)
        });
    }
}

/// Pictographs, symbols drawn as emoji, flags, skin tones and tags.
fn is_emoji(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x231A..=0x23FF | 0xE0020..=0xE007F
    )
}

/// The byte range of the first web address in `text`.
fn next_link(text: &str) -> Option<(usize, usize)> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    loop {
        let at = from + lower.get(from..)?.find("http")?;
        let tail = lower.get(at..)?;
        let scheme = ["https://", "http://"]
            .into_iter()
            .find(|s| tail.starts_with(s));
        // "xhttp://" is not a link: an address starts a word.
        let starts_word = text
            .get(..at)
            .and_then(|b| b.chars().next_back())
            .is_none_or(|c| !c.is_alphanumeric());
        if let (Some(scheme), true) = (scheme, starts_word) {
            let len = text
                .get(at..)?
                .find(char::is_whitespace)
                .unwrap_or(text.len() - at);
            let end = at + trim_trailing(text.get(at..at + len)?);
            if end > at + scheme.len() {
                return Some((at, end));
            }
        }
        from = at + 4;
    }
}

/// The length of `candidate` without the punctuation that ends the sentence around it
/// ("see https://x.org/a." or "(https://x.org/a)"), keeping a closing parenthesis that has its
/// opening one inside the address, as in Wikipedia's addresses.
fn trim_trailing(candidate: &str) -> usize {
    let mut s = candidate;
    loop {
        let Some(last) = s.chars().next_back() else {
            return 0;
        };
        let strip = match last {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | '>' | ']' | '}' => true,
            ')' => s.matches('(').count() < s.matches(')').count(),
            _ => false,
        };
        if !strip {
            return s.len();
        }
        s = s.get(..s.len() - last.len_utf8()).unwrap_or_default();
    }
}

/// Whether `url` may be handed to the system: a web address with no spaces or control characters.
pub fn safe_to_open(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Opens `url` in the system's browser, without a shell, so nothing in the address is run as a
/// command.
pub fn open(url: &str) -> io::Result<()> {
    if !safe_to_open(url) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "only web addresses are opened",
        ));
    }
    #[cfg(target_os = "windows")]
    let mut command = std::process::Command::new("explorer");
    #[cfg(target_os = "macos")]
    let mut command = std::process::Command::new("open");
    #[cfg(not(any(target_os = "windows", target_os = "macos")))]
    let mut command = std::process::Command::new("xdg-open");
    let mut child = command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // Reaped in the background so that no zombie is left behind.
    std::thread::spawn(move || child.wait());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Piece::{Emoji, Link, Text};
    use super::*;

    #[test]
    fn emoji_runs_are_their_own_pieces_with_their_joiners_and_selectors() {
        assert_eq!(
            pieces("hi 😀😂 ok ❤\u{fe0f} 👨\u{200d}👩\u{200d}👧 🇫🇷!"),
            vec![
                Text("hi "),
                Emoji("😀😂"),
                Text(" ok "),
                Emoji("❤\u{fe0f}"),
                Text(" "),
                Emoji("👨\u{200d}👩\u{200d}👧"),
                Text(" "),
                Emoji("🇫🇷"),
                Text("!"),
            ]
        );
        assert_eq!(pieces("Zürich, 東京"), vec![Text("Zürich, 東京")]);
        assert_eq!(
            pieces("see https://example.org/😀 😀"),
            vec![
                Text("see "),
                Link("https://example.org/😀"),
                Text(" "),
                Emoji("😀")
            ]
        );
    }

    #[test]
    fn links_are_found_and_the_text_around_them_kept() {
        assert_eq!(pieces("no links here"), vec![Text("no links here")]);
        assert_eq!(
            pieces("see https://example.org/a?b=1&c=2 now"),
            vec![
                Text("see "),
                Link("https://example.org/a?b=1&c=2"),
                Text(" now")
            ]
        );
        assert_eq!(
            pieces("HTTP://X.ORG and http://y.org"),
            vec![Link("HTTP://X.ORG"), Text(" and "), Link("http://y.org")]
        );
        assert_eq!(pieces(""), vec![]);
    }

    #[test]
    fn sentence_punctuation_is_not_part_of_a_link() {
        assert_eq!(
            pieces("read https://x.org/a."),
            vec![Text("read "), Link("https://x.org/a"), Text(".")]
        );
        assert_eq!(
            pieces("(https://x.org/a)"),
            vec![Text("("), Link("https://x.org/a"), Text(")")]
        );
        assert_eq!(
            pieces("https://en.wikipedia.org/wiki/Rust_(language)!"),
            vec![
                Link("https://en.wikipedia.org/wiki/Rust_(language)"),
                Text("!")
            ]
        );
    }

    #[test]
    fn things_that_only_look_like_links_are_text() {
        for s in [
            "https://",
            "xhttps://x.org",
            "ftp://x.org",
            "http:/x",
            "https://.",
        ] {
            assert_eq!(pieces(s), vec![Text(s)], "{s}");
        }
    }

    #[test]
    fn only_web_addresses_are_opened() {
        assert!(safe_to_open("https://example.org/a"));
        assert!(safe_to_open("HTTP://example.org"));
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ssh://host",
            "https://a.org/\nrm",
            "--help",
        ] {
            assert!(!safe_to_open(bad), "{bad}");
            assert!(open(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn pieces_put_back_together_give_the_message(s in ".{0,80}") {
            let joined: String = pieces(&s)
                .into_iter()
                .map(|p| match p { Text(t) | Link(t) | Emoji(t) => t })
                .collect();
            proptest::prop_assert_eq!(joined, s);
        }
    }
}
