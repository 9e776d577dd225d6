//! `healthchain key new|list|export`.

use crate::output::say;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use healthchain_core::keystore::Keystore;
use healthchain_crypto::signing::EthKey;

/// Environment variable holding the passphrase for non-interactive use.
const PASSPHRASE_VARIABLE: &str = "HEALTHCHAIN_PASSPHRASE";
/// Environment variable holding a secret key to import, for non-interactive use.
const SECRET_VARIABLE: &str = "HEALTHCHAIN_SECRET_KEY";

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a new random key.
    New {
        /// Its name (letters, digits, '_' or '-').
        name: String,
    },
    /// Store an existing secret key (hex, from HEALTHCHAIN_SECRET_KEY or a prompt).
    Import {
        /// Its name (letters, digits, '_' or '-').
        name: String,
    },
    /// List keys with their addresses.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a key's encrypted keystore v3 document (for backup or another wallet).
    Export {
        /// Its name.
        name: String,
    },
}

/// `$HEALTHCHAIN_HOME/keys`, else `$XDG_DATA_HOME/healthchain/keys`, else
/// `~/.local/share/healthchain/keys`.
pub fn default_dir() -> PathBuf {
    data_dir().join("keys")
}

/// `$HEALTHCHAIN_HOME`, else `$XDG_DATA_HOME/healthchain`, else `~/.local/share/healthchain`.
pub fn data_dir() -> PathBuf {
    let env = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("HEALTHCHAIN_HOME")
        .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("healthchain")))
        .or_else(|| env("HOME").map(|h| h.join(".local/share/healthchain")))
        .unwrap_or_else(|| PathBuf::from(".healthchain"))
}

pub fn passphrase(confirm: bool) -> Result<String, Box<dyn std::error::Error>> {
    if let Ok(passphrase) = std::env::var(PASSPHRASE_VARIABLE) {
        return Ok(passphrase);
    }
    let entered = rpassword::prompt_password("passphrase: ")
        .map_err(|e| format!("cannot read a passphrase ({e}); set {PASSPHRASE_VARIABLE} for non-interactive use"))?;
    if confirm && rpassword::prompt_password("repeat passphrase: ")? != entered {
        return Err("the passphrases differ; nothing was created".into());
    }
    Ok(entered)
}

pub fn run(dir: &Path, command: KeyCommand) -> Result<(), Box<dyn std::error::Error>> {
    let keystore = Keystore::open(dir)?;
    match command {
        KeyCommand::New { name } => {
            let info = keystore.create(&name, &passphrase(true)?)?;
            say!("created key '{}' with address {}", info.name, info.address);
        }
        KeyCommand::Import { name } => {
            let secret = match std::env::var(SECRET_VARIABLE) {
                Ok(secret) => secret,
                Err(_) => rpassword::prompt_password("secret key (hex): ").map_err(|e| {
                    format!("cannot read the secret ({e}); set {SECRET_VARIABLE} for non-interactive use")
                })?,
            };
            let bytes =
                alloy_primitives::hex::decode(secret.trim()).map_err(|_| "the secret key must be 32 bytes of hex")?;
            let key = EthKey::from_bytes(&bytes)?;
            let info = keystore.import(&name, &key, &passphrase(true)?)?;
            say!("imported key '{}' with address {}", info.name, info.address);
        }
        KeyCommand::List { json } => {
            let keys = keystore.list()?;
            if json {
                say!("{}", serde_json::to_string_pretty(&keys)?);
            } else if keys.is_empty() {
                say!("no keys in {} (create one with `healthchain key new NAME`)", keystore.dir().display());
            } else {
                for key in keys {
                    say!("{:<24} {}", key.name, key.address);
                }
            }
        }
        KeyCommand::Export { name } => say!("{}", keystore.export(&name)?),
    }
    Ok(())
}
