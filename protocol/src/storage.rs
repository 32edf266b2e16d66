//! §12.5 Storage: the identity and contacts files, at the application's edge (feature `tokio`,
//! like the rest of the client side). Both are written whole to a temporary file readable by
//! this user only, then renamed over the old one, so a crash never leaves half a file; a file
//! that cannot be read is an error naming it and is never overwritten.

use crate::contacts::{self, Contacts, StoreError};
use crate::key_schedule::IdentityKeyPair;
use core::fmt;
use rand_core::CryptoRngCore;
use std::path::{Path, PathBuf};

/// Why a file could not be used. A file that could not be read was left as it is.
#[derive(Debug)]
pub struct StorageError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub why: String,
    /// Whether reading (or understanding) it failed, rather than writing it.
    pub reading: bool,
    /// What the file is to the app, for the advice.
    pub kind: FileKind,
}

/// What a file is to the app (§12.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// This device's identity.
    Identity,
    /// The contacts.
    Contacts,
    /// A file the person named (an export or an import).
    Named,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, why) = (self.path.display(), &self.why);
        if !self.reading {
            return write!(
                f,
                "{path} could not be written ({why}): check the disk space and the folder's permissions"
            );
        }
        write!(f, "{path} cannot be read ({why})")?;
        match self.kind {
            FileKind::Identity => f.write_str(
                "; it was left as it is. Restore it from a backup or an export; moving it away \
                 gives this device a new identity, and friends who verified you will see a \
                 warning once.",
            ),
            FileKind::Contacts => f.write_str(
                "; it was left as it is. Restore it from a backup; moving it away forgets which \
                 friends you verified.",
            ),
            FileKind::Named => f.write_str("."),
        }
    }
}

impl std::error::Error for StorageError {}

fn error(path: &Path, why: impl fmt::Display) -> StorageError {
    let name = path.file_name().and_then(|n| n.to_str());
    StorageError {
        path: path.into(),
        why: why.to_string(),
        reading: true,
        kind: match name {
            Some("identity") => FileKind::Identity,
            Some("contacts") => FileKind::Contacts,
            _ => FileKind::Named,
        },
    }
}

fn write_error(path: &Path, why: impl fmt::Display) -> StorageError {
    StorageError {
        reading: false,
        ..error(path, why)
    }
}

/// Writes `text` to `path` atomically, creating its directory; mode 0600 on Unix.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A name of its own per writer: two writers of one file never share a temporary file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut file| {
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()
    });
    // A half-written temporary file may hold a key: it does not stay behind.
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Writes `text` to `path` only if no file is there: written whole beside it, then linked into
/// place, which fails when another writer got there first. `Ok(false)` then.
fn create_atomically(path: &Path, text: &str) -> std::io::Result<bool> {
    let tmp = path.with_extension(format!("new{}", std::process::id()));
    write_atomically(&tmp, text)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads a file as text; `None` when it does not exist.
fn read(path: &Path) -> Result<Option<zeroize::Zeroizing<String>>, StorageError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(zeroize::Zeroizing::new(t))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(error(path, e)),
    }
}

fn parsed<T>(path: &Path, r: Result<T, StoreError>) -> Result<T, StorageError> {
    r.map_err(|e| error(path, e))
}

/// The identity in `path`, made with `rng` and written there on first use (§12.5).
pub fn load_or_create_identity(
    path: &Path,
    rng: &mut impl CryptoRngCore,
) -> Result<IdentityKeyPair, StorageError> {
    if let Some(text) = read(path)? {
        let key = parsed(path, contacts::decode_identity(&text))?;
        return Ok(IdentityKeyPair::from_private_bytes(*key));
    }
    // Two apps starting at once must not each keep an identity of their own: the first one
    // written wins, and the other reads it.
    let identity = IdentityKeyPair::generate(rng);
    let text = contacts::encode_identity(&identity.dangerous_private_bytes());
    if create_atomically(path, &text).map_err(|e| write_error(path, e))? {
        Ok(identity)
    } else {
        read_identity(path)
    }
}

/// Writes `identity` to `path` (import, reset).
pub fn save_identity(path: &Path, identity: &IdentityKeyPair) -> Result<(), StorageError> {
    let text = contacts::encode_identity(&identity.dangerous_private_bytes());
    write_atomically(path, &text).map_err(|e| write_error(path, e))
}

/// Writes `identity` to a new file the person named (export); a file already there is not
/// overwritten.
pub fn export_identity(path: &Path, identity: &IdentityKeyPair) -> Result<(), StorageError> {
    // A folder the person named and that is not there is a typing mistake, not a request.
    if path
        .parent()
        .is_some_and(|d| !d.as_os_str().is_empty() && !d.is_dir())
    {
        return Err(write_error(path, "no such folder"));
    }
    let text = contacts::encode_identity(&identity.dangerous_private_bytes());
    match create_atomically(path, &text) {
        Ok(true) => Ok(()),
        Ok(false) => Err(write_error(path, "a file is already there; name another")),
        Err(e) => Err(write_error(path, e)),
    }
}

/// Reads an identity file written by [`save_identity`] (import).
pub fn read_identity(path: &Path) -> Result<IdentityKeyPair, StorageError> {
    let text = read(path)?.ok_or_else(|| error(path, "no such file"))?;
    let key = parsed(path, contacts::decode_identity(&text))?;
    Ok(IdentityKeyPair::from_private_bytes(*key))
}

/// The contacts in `path`; none when it does not exist.
pub fn load_contacts(path: &Path) -> Result<Contacts, StorageError> {
    match read(path)? {
        Some(text) => parsed(path, Contacts::decode(&text)),
        None => Ok(Contacts::default()),
    }
}

/// Writes `contacts` to `path`.
pub fn save_contacts(path: &Path, contacts: &Contacts) -> Result<(), StorageError> {
    write_atomically(path, &contacts.encode()).map_err(|e| write_error(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nick::Nick;

    #[test]
    fn storage_12_5_files_are_private_kept_and_a_corrupt_one_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("cryptully-storage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (id_path, contacts_path) = (dir.join("identity"), dir.join("contacts"));
        let mut rng = rand_core::OsRng;
        let first = load_or_create_identity(&id_path, &mut rng).unwrap();
        let again = load_or_create_identity(&id_path, &mut rng).unwrap();
        assert_eq!(first.public(), again.public(), "made once, then kept");
        let mut contacts = Contacts::default();
        contacts.mark_verified(&Nick::new("bob").unwrap(), &[3; 32], 9);
        save_contacts(&contacts_path, &contacts).unwrap();
        assert_eq!(load_contacts(&contacts_path).unwrap(), contacts);
        #[cfg(unix)]
        for path in [&id_path, &contacts_path] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", path.display());
        }
        std::fs::write(&contacts_path, "cryptully contacts 1\nbob zz -\n").unwrap();
        let err = load_contacts(&contacts_path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("contacts"), "{err}");
        // An export never overwrites, and never makes a folder.
        let export = dir.join("exported");
        export_identity(&export, &first).unwrap();
        assert_eq!(read_identity(&export).unwrap().public(), first.public());
        assert!(export_identity(&export, &first).is_err(), "already there");
        assert!(export_identity(&dir.join("no/such/x"), &first).is_err());
        std::fs::write(&id_path, "not a key\n").unwrap();
        assert!(load_or_create_identity(&id_path, &mut rng).is_err());
        assert_eq!(std::fs::read_to_string(&id_path).unwrap(), "not a key\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
