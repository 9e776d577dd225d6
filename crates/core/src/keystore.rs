//! Per-user key storage: one Ethereum keystore v3 file per named key (scrypt, AES-128-CTR
//! and a keccak MAC: the format geth, hardhat and wallets read), in a directory only its
//! owner may enter (0700), each file readable only by its owner (0600).
//!
//! The file also records the address in clear (geth's layout), so keys can be listed
//! without their passphrases.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use alloy_primitives::Address;
use alloy_signer_local::PrivateKeySigner;
use healthchain_crypto::signing::EthKey;

/// Why a keystore operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The name is not 1–64 characters of `A–Z a–z 0–9 _ -`.
    #[error("invalid key name '{0}': use 1 to 64 letters, digits, '_' or '-'")]
    InvalidName(String),
    /// A key with this name exists already; nothing was overwritten.
    #[error("a key named '{0}' already exists")]
    Exists(String),
    /// No key with this name.
    #[error("no key named '{name}' in {dir}")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The keystore directory.
        dir: PathBuf,
    },
    /// The passphrase does not open the key (or the file is corrupt).
    #[error("wrong passphrase for key '{0}' (or the key file is damaged)")]
    WrongPassphrase(String),
    /// An empty passphrase was given.
    #[error("the passphrase must not be empty")]
    EmptyPassphrase,
    /// A key file is not a keystore v3 document.
    #[error("{path} is not a keystore file: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// File system failure.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A key's public description.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// Its name.
    pub name: String,
    /// Its ledger address.
    pub address: Address,
}

/// A directory of encrypted keys.
pub struct Keystore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
    move |source| KeystoreError::Io { path: path.to_path_buf(), source }
}

fn check_name(name: &str) -> Result<(), KeystoreError> {
    let valid =
        (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid { Ok(()) } else { Err(KeystoreError::InvalidName(name.to_string())) }
}

impl Keystore {
    /// Opens (creating if needed) the keystore in `dir`, restricting it to its owner.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeystoreError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(io(&dir))?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Creates a fresh random key under `name`, encrypted with `passphrase`.
    pub fn create(&self, name: &str, passphrase: &str) -> Result<KeyInfo, KeystoreError> {
        self.import(name, &EthKey::generate(&mut rand::rng()), passphrase)
    }

    /// Stores an existing key under `name`, encrypted with `passphrase`.
    pub fn import(&self, name: &str, key: &EthKey, passphrase: &str) -> Result<KeyInfo, KeystoreError> {
        check_name(name)?;
        if passphrase.is_empty() {
            return Err(KeystoreError::EmptyPassphrase);
        }
        let path = self.path(name);
        if path.exists() {
            return Err(KeystoreError::Exists(name.to_string()));
        }
        let file_name = format!("{name}.json");
        PrivateKeySigner::encrypt_keystore(
            &self.dir,
            &mut rand08::thread_rng(),
            key.to_bytes(),
            passphrase,
            Some(&file_name),
        )
        .map_err(|e| KeystoreError::Malformed { path: path.clone(), reason: e.to_string() })?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).map_err(io(&path))?;
        Ok(KeyInfo { name: name.to_string(), address: key.address() })
    }

    /// Decrypts the key `name`.
    pub fn unlock(&self, name: &str, passphrase: &str) -> Result<EthKey, KeystoreError> {
        check_name(name)?;
        let path = self.existing(name)?;
        let signer = PrivateKeySigner::decrypt_keystore(&path, passphrase)
            .map_err(|_| KeystoreError::WrongPassphrase(name.to_string()))?;
        EthKey::from_bytes(signer.to_bytes().as_slice())
            .map_err(|e| KeystoreError::Malformed { path, reason: e.to_string() })
    }

    /// The keystore v3 document of `name` (still encrypted), for backup or another wallet.
    pub fn export(&self, name: &str) -> Result<String, KeystoreError> {
        check_name(name)?;
        let path = self.existing(name)?;
        fs::read_to_string(&path).map_err(io(&path))
    }

    /// Every key, by name.
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeystoreError> {
        let mut keys = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let path = entry.map_err(io(&self.dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if check_name(name).is_err() {
                continue;
            }
            keys.push(KeyInfo { name: name.to_string(), address: read_address(&path)? });
        }
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }

    fn existing(&self, name: &str) -> Result<PathBuf, KeystoreError> {
        let path = self.path(name);
        if !path.is_file() {
            return Err(KeystoreError::NotFound { name: name.to_string(), dir: self.dir.clone() });
        }
        Ok(path)
    }
}

fn read_address(path: &Path) -> Result<Address, KeystoreError> {
    let malformed = |reason: String| KeystoreError::Malformed { path: path.to_path_buf(), reason };
    let text = fs::read_to_string(path).map_err(io(path))?;
    let document: serde_json::Value = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
    let address =
        document.get("address").and_then(|a| a.as_str()).ok_or_else(|| malformed("no address field".into()))?;
    address.parse().map_err(|_| malformed(format!("invalid address '{address}'")))
}
