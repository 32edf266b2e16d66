//! This device's identity and what it remembers of friends (§12.5): `identity` and `contacts`
//! in the app's data directory, through `cryptully_protocol::storage` (private files, written
//! atomically, never overwritten when unreadable). The command-line options to show, export,
//! import and reset the identity live here too.

use cryptully_protocol::IdentityKeyPair;
use cryptully_protocol::connection::Profile;
use cryptully_protocol::storage::{self, StorageError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the identity and the contacts are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The identity's private key.
    pub identity: PathBuf,
    /// The contacts.
    pub contacts: PathBuf,
}

impl Paths {
    /// In the platform's data directory (`directories`), or `None` without a home directory.
    pub fn default_paths() -> Option<Self> {
        directories::ProjectDirs::from("", "", "cryptully").map(|d| Self::in_dir(d.data_dir()))
    }

    /// In `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            identity: dir.join("identity"),
            contacts: dir.join("contacts"),
        }
    }

    /// The identity (made on first use) and the contacts.
    pub fn load(&self) -> Result<Profile, StorageError> {
        let identity = storage::load_or_create_identity(
            &self.identity,
            &mut cryptully_protocol::rand_core::OsRng,
        )?;
        let contacts = storage::load_contacts(&self.contacts)?;
        Ok(Profile {
            identity: Arc::new(identity),
            contacts,
        })
    }
}

/// `--show-identity`, `--export-identity`, `--import-identity`, `--reset-identity`: what to
/// print, or why not.
pub fn manage(paths: &Paths, action: &crate::cli::IdentityAction) -> Result<String, StorageError> {
    use crate::cli::IdentityAction;
    match action {
        IdentityAction::Show => {
            let id = storage::load_or_create_identity(
                &paths.identity,
                &mut cryptully_protocol::rand_core::OsRng,
            )?;
            Ok(format!(
                "Your identity key (what your friends' apps remember of you): {}\nKept in {}; \
                 contacts in {}.\nIn a chat, the app shows the identity fingerprint of you and \
                 your friend together: 30 digits, the same on both screens.",
                hex(id.public()),
                paths.identity.display(),
                paths.contacts.display()
            ))
        }
        IdentityAction::Export(to) => {
            let id = storage::load_or_create_identity(
                &paths.identity,
                &mut cryptully_protocol::rand_core::OsRng,
            )?;
            storage::export_identity(to, &id)?;
            Ok(format!(
                "Exported to {}. It holds your private key: keep it as safe as the device.",
                to.display()
            ))
        }
        IdentityAction::Import(from) => {
            let id = storage::read_identity(from)?;
            storage::save_identity(&paths.identity, &id)?;
            Ok(format!(
                "Imported: your identity key is now {}.",
                hex(id.public())
            ))
        }
        IdentityAction::Reset => {
            let id = IdentityKeyPair::generate(&mut cryptully_protocol::rand_core::OsRng);
            storage::save_identity(&paths.identity, &id)?;
            Ok(format!(
                "A new identity: {}. Friends who verified you will see \"This may not be you\" \
                 once: tell them, and verify again.",
                hex(id.public())
            ))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
