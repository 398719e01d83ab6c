//! The manager's durable registry (redb under the data dir): API-registered endpoints and
//! VersionSets, what the manager observed and applied per endpoint, the certificate pinned for
//! each cluster, the git position, the admin password hash and the manager's own users and
//! roles. Everything lives in memory too; every change is written through before it is
//! visible, so a restart forgets nothing.

mod accounts;
mod records;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use versionsets::{Endpoint, VersionSet};

pub use accounts::Accounts;
pub use records::{
    CatalogData, ContentPack, FetchRecord, GitRecord, GitSnapshot, Observed, Rejected,
};

use crate::cluster::trust::Pin;
use crate::crypto::PasswordHash;

const ENDPOINTS: TableDefinition<&str, &str> = TableDefinition::new("endpoints");
const VERSION_SETS: TableDefinition<&str, &str> = TableDefinition::new("version_sets");
const OBSERVED: TableDefinition<&str, &str> = TableDefinition::new("observed");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");
const PINS: TableDefinition<&str, &str> = TableDefinition::new("pins");

const META_GIT: &str = "git";
const META_ADMIN: &str = "admin";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry database: {0}")]
    Db(#[from] redb::Error),
    #[error("registry record {0} is corrupt: {1}")]
    Corrupt(String, serde_json::Error),
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for RegistryError {
            fn from(e: $t) -> Self {
                Self::Db(e.into())
            }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Everything the registry holds, in memory.
#[derive(Debug, Default)]
struct State {
    endpoints: BTreeMap<String, Endpoint>,
    version_sets: BTreeMap<String, VersionSet>,
    observed: BTreeMap<String, Observed>,
    pins: BTreeMap<String, Pin>,
    git: GitRecord,
    admin: Option<PasswordHash>,
    users: BTreeMap<String, serde_json::Value>,
    roles: BTreeMap<String, serde_json::Value>,
    token_secret: Option<String>,
}

pub struct Registry {
    db: Database,
    state: Mutex<State>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry(..)")
    }
}

fn decode<T: for<'de> Deserialize<'de>>(key: &str, text: &str) -> Result<T, RegistryError> {
    serde_json::from_str(text).map_err(|e| RegistryError::Corrupt(key.to_owned(), e))
}

fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

impl Registry {
    pub fn open(dir: &Path) -> Result<Self, RegistryError> {
        let db = Database::create(dir.join("manager.redb"))?;
        let tx = db.begin_write()?;
        {
            tx.open_table(ENDPOINTS)?;
            tx.open_table(VERSION_SETS)?;
            tx.open_table(OBSERVED)?;
            tx.open_table(META)?;
            tx.open_table(PINS)?;
            tx.open_table(accounts::USERS)?;
            tx.open_table(accounts::ROLES)?;
        }
        tx.commit()?;
        let mut state = State::default();
        let tx = db.begin_read()?;
        for row in tx.open_table(ENDPOINTS)?.iter()? {
            let (k, v) = row?;
            state
                .endpoints
                .insert(k.value().to_owned(), decode(k.value(), v.value())?);
        }
        for row in tx.open_table(VERSION_SETS)?.iter()? {
            let (k, v) = row?;
            state
                .version_sets
                .insert(k.value().to_owned(), decode(k.value(), v.value())?);
        }
        for row in tx.open_table(OBSERVED)?.iter()? {
            let (k, v) = row?;
            state
                .observed
                .insert(k.value().to_owned(), decode(k.value(), v.value())?);
        }
        for row in tx.open_table(PINS)?.iter()? {
            let (k, v) = row?;
            state
                .pins
                .insert(k.value().to_owned(), decode(k.value(), v.value())?);
        }
        let meta = tx.open_table(META)?;
        if let Some(v) = meta.get(META_GIT)? {
            state.git = decode(META_GIT, v.value())?;
        }
        if let Some(v) = meta.get(META_ADMIN)? {
            state.admin = Some(decode(META_ADMIN, v.value())?);
        }
        drop(meta);
        accounts::load(&tx, &mut state)?;
        drop(tx);
        let registry = Self {
            db,
            state: Mutex::new(state),
        };
        registry.ensure_token_secret()?;
        Ok(registry)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put(
        &self,
        table: TableDefinition<&str, &str>,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), RegistryError> {
        let tx = self.db.begin_write()?;
        {
            let mut t = tx.open_table(table)?;
            match value {
                Some(v) => {
                    t.insert(key, v)?;
                }
                None => {
                    t.remove(key)?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    // --- admin ---

    pub fn admin(&self) -> Option<PasswordHash> {
        self.lock().admin.clone()
    }

    pub fn set_admin(&self, hash: PasswordHash) -> Result<(), RegistryError> {
        let mut st = self.lock();
        self.put(META, META_ADMIN, Some(&encode(&hash)))?;
        st.admin = Some(hash);
        Ok(())
    }

    // --- API endpoints ---

    pub fn api_endpoints(&self) -> BTreeMap<String, Endpoint> {
        self.lock().endpoints.clone()
    }

    pub fn api_endpoint(&self, id: &str) -> Option<Endpoint> {
        self.lock().endpoints.get(id).cloned()
    }

    pub fn put_endpoint(&self, ep: Endpoint) -> Result<(), RegistryError> {
        let mut st = self.lock();
        self.put(ENDPOINTS, &ep.id, Some(&encode(&ep)))?;
        st.endpoints.insert(ep.id.clone(), ep);
        Ok(())
    }

    pub fn delete_endpoint(&self, id: &str) -> Result<bool, RegistryError> {
        let mut st = self.lock();
        self.put(ENDPOINTS, id, None)?;
        Ok(st.endpoints.remove(id).is_some())
    }

    // --- API version sets ---

    pub fn api_version_sets(&self) -> BTreeMap<String, VersionSet> {
        self.lock().version_sets.clone()
    }

    pub fn put_version_set(&self, vs: VersionSet) -> Result<(), RegistryError> {
        let mut st = self.lock();
        self.put(VERSION_SETS, &vs.id, Some(&encode(&vs)))?;
        st.version_sets.insert(vs.id.clone(), vs);
        Ok(())
    }

    pub fn delete_version_set(&self, id: &str) -> Result<bool, RegistryError> {
        let mut st = self.lock();
        self.put(VERSION_SETS, id, None)?;
        Ok(st.version_sets.remove(id).is_some())
    }

    // --- observed ---

    pub fn observed(&self, id: &str) -> Observed {
        self.lock().observed.get(id).cloned().unwrap_or_default()
    }

    /// Changes the observed record of `id`; written to disk only when it changed.
    pub fn update_observed(
        &self,
        id: &str,
        change: impl FnOnce(&mut Observed),
    ) -> Result<Observed, RegistryError> {
        let mut st = self.lock();
        let old = st.observed.get(id).cloned().unwrap_or_default();
        let mut new = old.clone();
        change(&mut new);
        if new != old {
            self.put(OBSERVED, id, Some(&encode(&new)))?;
            st.observed.insert(id.to_owned(), new.clone());
        }
        Ok(new)
    }

    pub fn forget_observed(&self, id: &str) -> Result<(), RegistryError> {
        let mut st = self.lock();
        if st.observed.remove(id).is_some() {
            self.put(OBSERVED, id, None)?;
        }
        Ok(())
    }

    // --- pinned certificates ---

    pub fn pin(&self, id: &str) -> Option<Pin> {
        self.lock().pins.get(id).cloned()
    }

    pub fn pinned_ids(&self) -> Vec<String> {
        self.lock().pins.keys().cloned().collect()
    }

    /// Pins `pin` for `id`, replacing any earlier one (registration).
    pub fn set_pin(&self, id: &str, pin: Pin) -> Result<(), RegistryError> {
        let mut st = self.lock();
        if st.pins.get(id) != Some(&pin) {
            self.put(PINS, id, Some(&encode(&pin)))?;
            st.pins.insert(id.to_owned(), pin);
        }
        Ok(())
    }

    /// Pins `pin` for `id` unless one is pinned already (first use); the pin in force.
    pub fn pin_if_absent(&self, id: &str, pin: Pin) -> Result<Pin, RegistryError> {
        let mut st = self.lock();
        if let Some(existing) = st.pins.get(id) {
            return Ok(existing.clone());
        }
        self.put(PINS, id, Some(&encode(&pin)))?;
        st.pins.insert(id.to_owned(), pin.clone());
        Ok(pin)
    }

    pub fn forget_pin(&self, id: &str) -> Result<bool, RegistryError> {
        let mut st = self.lock();
        if st.pins.remove(id).is_some() {
            self.put(PINS, id, None)?;
            return Ok(true);
        }
        Ok(false)
    }

    // --- git ---

    pub fn git(&self) -> GitRecord {
        self.lock().git.clone()
    }

    pub fn update_git(&self, change: impl FnOnce(&mut GitRecord)) -> Result<(), RegistryError> {
        let mut st = self.lock();
        let mut new = st.git.clone();
        change(&mut new);
        if new != st.git {
            self.put(META, META_GIT, Some(&encode(&new)))?;
            st.git = new;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let r = Registry::open(dir.path()).unwrap();
            r.put_endpoint(Endpoint {
                id: "a".into(),
                ..Endpoint::default()
            })
            .unwrap();
            r.update_observed("a", |o| o.desired_hash = Some("h".into()))
                .unwrap();
            r.update_git(|g| g.head = Some("c1".into())).unwrap();
            let pin = Pin {
                pem: "p".into(),
                sha256: "s".into(),
                subject: "CN=x".into(),
                url: "https://x".into(),
                pinned_at: 1,
            };
            assert_eq!(r.pin_if_absent("a", pin.clone()).unwrap(), pin);
            let other = Pin {
                pem: "q".into(),
                ..pin.clone()
            };
            assert_eq!(r.pin_if_absent("a", other).unwrap(), pin, "never re-pinned");
        }
        let r = Registry::open(dir.path()).unwrap();
        assert!(r.api_endpoint("a").is_some());
        assert_eq!(r.observed("a").desired_hash.as_deref(), Some("h"));
        assert_eq!(r.git().head.as_deref(), Some("c1"));
        assert_eq!(r.pin("a").map(|p| p.pem).as_deref(), Some("p"));
        assert!(r.forget_pin("a").unwrap());
        assert!(r.pin("a").is_none());
    }
}
