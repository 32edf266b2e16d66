//! The network edge: one subscription per connection attempt. Its first event hands the GUI the
//! connection's command [`Handle`]; the rest are the connection's events. The embedded relay runs
//! inside it when the person hosts one, or when nothing listens at the default address.

use crate::pins::Pins;
use cryptully_protocol::Nick;
use cryptully_protocol::connection::{
    CONNECT_TIMEOUT, ConnEvent, ConnectError, Handle, Profile, connect_as,
};
use cryptully_protocol::errors::ErrorCode;
use cryptully_protocol::transport::{RelayAddr, Security};
use iced::Subscription;
use iced::futures::{SinkExt, Stream};
use std::net::SocketAddr;

/// The default relay address (§10.2): where the app starts its own relay if none answers.
pub const DEFAULT_RELAY: &str = "127.0.0.1:9000";

/// What to connect to, as typed on the connect screen.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct Target {
    /// HOST:PORT.
    pub relay: String,
    /// The nickname wanted.
    pub nick: String,
    /// Run a relay inside the app for others on the network.
    pub host: bool,
    /// Which attempt this is after the connection was lost (0: the first connection), so that
    /// each new attempt is a new subscription.
    pub attempt: u32,
}

/// What the network tells the GUI.
#[derive(Debug, Clone)]
pub enum NetEvent {
    /// Registered.
    Connected {
        /// Commands go through it.
        handle: Handle,
        /// Where a relay was started, to tell the person.
        hosting: Option<String>,
    },
    /// Could not connect, for the person to read.
    Failed(String),
    /// Something happened on the connection.
    Event(ConnEvent),
}

/// Why the relay would not take this person, in words for the connect screen.
fn refusal(e: &ConnectError, nick: &str) -> String {
    match e {
        ConnectError::Refused(ErrorCode::NickInUse) => {
            format!("Someone on this relay already uses the nickname {}. Pick another.", nick.trim())
        }
        ConnectError::Refused(ErrorCode::InvalidNick) => {
            crate::model::NICK_RULES.into()
        }
        ConnectError::Refused(ErrorCode::UnsupportedVersion) => {
            "This relay speaks a different version of Cryptully. Ask whoever runs it to update, or update this app.".into()
        }
        ConnectError::Refused(ErrorCode::ServerFull) => {
            "This relay is full. Try again later, or host a relay on this computer.".into()
        }
        other => {
            let text = other.to_string();
            let mut chars = text.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or(text)
        }
    }
}

/// What the person hosting a relay is told: the addresses friends type, IPv4 first (issue 15,
/// item 7). `ips` are this computer's addresses other than loopback and link-local ones.
pub fn hosting_notice(ips: &[std::net::IpAddr], port: u16) -> String {
    let mut ips = ips.to_vec();
    ips.sort_by_key(|ip| (ip.is_ipv6(), *ip));
    ips.dedup();
    let addrs: Vec<String> = ips
        .iter()
        .map(|ip| SocketAddr::new(*ip, port).to_string())
        .collect();
    // The relay is plain TCP on every interface: what crosses the network is said once.
    const SEEN: &str = " Messages stay end-to-end encrypted, but anyone on the network can see \
        the nicknames and who talks to whom.";
    match addrs.split_first() {
        None => format!(
            "You are hosting a relay on port {port}, but this computer has no network address right now: friends can reach it once it joins a network.{SEEN}"
        ),
        Some((first, [])) => {
            format!("You are hosting a relay. Friends on your network connect to {first}.{SEEN}")
        }
        Some((first, rest)) => format!(
            "You are hosting a relay. Friends on your network connect to {first} (or {}).{SEEN}",
            rest.join(", ")
        ),
    }
}

/// The connection for `target`, for as long as the GUI asks for it.
pub fn subscription(target: &Target) -> Subscription<NetEvent> {
    Subscription::run_with(target.clone(), |t| events(t.clone()))
}

/// What [`subscription`] reports for `target`: the connection attempt, then its events.
pub fn events(target: Target) -> impl Stream<Item = NetEvent> {
    iced::stream::channel(64, async move |mut out| {
        let mut relay = None;
        let mut hosting = None;
        let nick = match Nick::new(target.nick.trim()) {
            Ok(n) => n,
            Err(_) => {
                let _ = out
                    .send(NetEvent::Failed(crate::model::NICK_RULES.into()))
                    .await;
                return;
            }
        };
        // §12.5: this device's identity and its contacts. A file that cannot be read stops here,
        // in words, and is left as it is.
        let paths = crate::identity::Paths::default_paths();
        let profile = match paths.as_ref().map(crate::identity::Paths::load) {
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                let _ = out.send(NetEvent::Failed(format!("{e}."))).await;
                return;
            }
            // No home directory: an identity for this run only.
            None => Profile::throwaway(&mut cryptully_protocol::rand_core::OsRng),
        };
        let profile_contacts = profile.contacts.clone();
        let connect = |addr: String, nick: Nick, profile: Profile| async move {
            connect_as(
                addr.as_str(),
                nick,
                profile,
                cryptully_protocol::rand_core::OsRng,
                CONNECT_TIMEOUT,
            )
            .await
        };
        let mut addr = target.relay.trim().to_string();
        if target.host {
            let port = addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(9000);
            match cryptully_relay::spawn(
                SocketAddr::from(([0, 0, 0, 0], port)),
                cryptully_relay::Config::default(),
            )
            .await
            {
                Ok(r) => {
                    let ips = if_addrs::get_if_addrs()
                        .map(|all| {
                            all.into_iter()
                                .filter(|i| !i.is_loopback() && !i.is_link_local())
                                .map(|i| i.ip())
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default();
                    hosting = Some(hosting_notice(&ips, port));
                    addr = format!("127.0.0.1:{port}");
                    relay = Some(r);
                }
                Err(e) => {
                    tracing::warn!(port, error = ?e, "cannot host a relay");
                    let why = if e.kind() == std::io::ErrorKind::AddrInUse {
                        "another program already uses that port; pick another".to_string()
                    } else {
                        e.kind().to_string()
                    };
                    let _ = out
                        .send(NetEvent::Failed(format!(
                            "Cannot host a relay on port {port}: {why}."
                        )))
                        .await;
                    return;
                }
            }
        }
        // §15.1, §15.3: the typed address, with a remembered pin for tls:// without one.
        let typed = match addr.parse::<RelayAddr>() {
            Ok(a) => a,
            Err(e) => {
                let _ = out
                    .send(NetEvent::Failed(format!(
                        "The relay address {addr:?}: {e}."
                    )))
                    .await;
                return;
            }
        };
        let pins_path = Pins::default_path();
        let mut pins = match pins_path.as_deref().map(Pins::load) {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) if typed.security == (Security::Tls { pin: None }) => {
                let _ = out
                    .send(NetEvent::Failed(format!("Cannot check the relay: {e}.")))
                    .await;
                return;
            }
            _ => None,
        };
        let relay_addr = match &pins {
            Some(p) => p.apply(typed),
            None => typed,
        };
        let mut result = connect(relay_addr.to_string(), nick.clone(), profile.clone()).await;
        if result.is_ok() {
            if let (Some(pins), Some(path)) = (pins.as_mut(), pins_path.as_deref()) {
                // Saved only when something changed; a failure to save costs only the memory.
                if pins.remember(&relay_addr) {
                    let _ = pins.save(path);
                }
            }
        }
        if matches!(result, Err(ConnectError::Unreachable(_)))
            && addr == DEFAULT_RELAY
            && relay.is_none()
        {
            // Nothing listens at the default address: start the relay here, so one binary is
            // enough to try Cryptully.
            if let Ok(default) = DEFAULT_RELAY.parse::<SocketAddr>() {
                if let Ok(r) =
                    cryptully_relay::spawn(default, cryptully_relay::Config::default()).await
                {
                    hosting = Some("No relay was running, so Cryptully started one on this computer (127.0.0.1:9000).".into());
                    relay = Some(r);
                    result = connect(addr.clone(), nick, profile).await;
                }
            }
        }
        match result {
            Ok((handle, mut events)) => {
                let _ = out.send(NetEvent::Connected { handle, hosting }).await;
                // The sidebar lists the friends remembered from earlier runs (§12.5).
                let known = ConnEvent::ContactsChanged(profile_contacts);
                let _ = out.send(NetEvent::Event(known)).await;
                while let Some(e) = events.recv().await {
                    // §12.5: what is remembered of friends is written as it changes.
                    if let (ConnEvent::ContactsChanged(contacts), Some(paths)) = (&e, &paths) {
                        if let Err(err) =
                            cryptully_protocol::storage::save_contacts(&paths.contacts, contacts)
                        {
                            let e = ConnEvent::Error {
                                peer: None,
                                message: err.to_string(),
                            };
                            if out.send(NetEvent::Event(e)).await.is_err() {
                                break;
                            }
                        }
                    }
                    if out.send(NetEvent::Event(e)).await.is_err() {
                        break;
                    }
                }
            }
            Err(e @ ConnectError::Unreachable(_)) => {
                tracing::warn!(relay = %addr, error = ?e, "the relay could not be reached");
                let _ = out
                    .send(NetEvent::Failed(format!(
                        "Cannot reach the relay at {addr}: {e}. Or host a relay on this computer."
                    )))
                    .await;
            }
            Err(e) => {
                tracing::warn!(relay = %addr, error = ?e, "connecting failed");
                let _ = out.send(NetEvent::Failed(refusal(&e, &target.nick))).await;
            }
        }
        if let Some(r) = relay {
            let _ = r.shutdown().await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::hosting_notice;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn hosting_names_the_addresses_friends_type_ipv4_first() {
        assert_eq!(
            hosting_notice(
                &[ip("2001:db8::5"), ip("192.168.1.20"), ip("10.0.0.7")],
                9001
            ),
            "You are hosting a relay. Friends on your network connect to 10.0.0.7:9001 (or 192.168.1.20:9001, [2001:db8::5]:9001). Messages stay end-to-end encrypted, but anyone on the network can see the nicknames and who talks to whom."
        );
        assert_eq!(
            hosting_notice(&[ip("192.168.1.20"), ip("192.168.1.20")], 9000),
            "You are hosting a relay. Friends on your network connect to 192.168.1.20:9000. Messages stay end-to-end encrypted, but anyone on the network can see the nicknames and who talks to whom."
        );
        assert!(hosting_notice(&[], 9000).contains("no network address right now"));
    }
}
