//! The manager's own users and roles (DRP's shapes, kept as their JSON objects by `Name`) and
//! the secret its bearer tokens are signed with. The admin is not among the users: its hash
//! stays where it always was (`meta/admin`), and the user API shows it as a superuser.

use std::collections::BTreeMap;

use redb::{ReadTransaction, ReadableTable, TableDefinition};
use serde_json::Value;

use super::{decode, encode, Registry, RegistryError, State, META};

pub(super) const USERS: TableDefinition<&str, &str> = TableDefinition::new("users");
pub(super) const ROLES: TableDefinition<&str, &str> = TableDefinition::new("roles");
const META_TOKEN_SECRET: &str = "token-secret";

/// A kind of account object the registry keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accounts {
    /// `users`: `{Name, Roles, PasswordHash, ...}`.
    Users,
    /// `roles`: `{Name, Claims: [{Scope, Action, Specific, Endpoint?}]}`.
    Roles,
}

impl Accounts {
    /// The collection name, as in `/api/v3/<name>`.
    pub fn collection(self) -> &'static str {
        match self {
            Accounts::Users => "users",
            Accounts::Roles => "roles",
        }
    }

    /// The kind a collection name means, if any.
    pub fn of(collection: &str) -> Option<Accounts> {
        match collection {
            "users" => Some(Accounts::Users),
            "roles" => Some(Accounts::Roles),
            _ => None,
        }
    }

    fn table(self) -> TableDefinition<'static, &'static str, &'static str> {
        match self {
            Accounts::Users => USERS,
            Accounts::Roles => ROLES,
        }
    }
}

/// Reads the accounts and the token secret at open.
pub(super) fn load(tx: &ReadTransaction, state: &mut State) -> Result<(), RegistryError> {
    for (kind, map) in [
        (Accounts::Users, &mut state.users),
        (Accounts::Roles, &mut state.roles),
    ] {
        for row in tx.open_table(kind.table())?.iter()? {
            let (k, v) = row?;
            map.insert(k.value().to_owned(), decode(k.value(), v.value())?);
        }
    }
    if let Some(v) = tx.open_table(META)?.get(META_TOKEN_SECRET)? {
        state.token_secret = Some(v.value().to_owned());
    }
    Ok(())
}

impl Registry {
    fn accounts_mut(state: &mut State, kind: Accounts) -> &mut BTreeMap<String, Value> {
        match kind {
            Accounts::Users => &mut state.users,
            Accounts::Roles => &mut state.roles,
        }
    }

    /// Every object of `kind`, by name.
    pub fn accounts(&self, kind: Accounts) -> BTreeMap<String, Value> {
        Self::accounts_mut(&mut self.lock(), kind).clone()
    }

    /// One object of `kind`.
    pub fn account(&self, kind: Accounts, name: &str) -> Option<Value> {
        Self::accounts_mut(&mut self.lock(), kind)
            .get(name)
            .cloned()
    }

    /// Stores `object` as `name` of `kind`, replacing any earlier one.
    pub fn put_account(
        &self,
        kind: Accounts,
        name: &str,
        object: Value,
    ) -> Result<(), RegistryError> {
        let mut st = self.lock();
        self.put(kind.table(), name, Some(&encode(&object)))?;
        Self::accounts_mut(&mut st, kind).insert(name.to_owned(), object);
        Ok(())
    }

    /// Removes `name` of `kind`; whether it was there.
    pub fn delete_account(&self, kind: Accounts, name: &str) -> Result<bool, RegistryError> {
        let mut st = self.lock();
        self.put(kind.table(), name, None)?;
        Ok(Self::accounts_mut(&mut st, kind).remove(name).is_some())
    }

    /// The hex secret the manager's tokens are signed with (created at open, kept across
    /// restarts, so a token stays valid until it expires).
    pub fn token_secret(&self) -> String {
        self.lock().token_secret.clone().unwrap_or_default()
    }

    /// Creates the token secret on the first open.
    pub(super) fn ensure_token_secret(&self) -> Result<(), RegistryError> {
        let mut st = self.lock();
        if st.token_secret.is_none() {
            let secret = access::token::new_secret();
            self.put(META, META_TOKEN_SECRET, Some(&secret))?;
            st.token_secret = Some(secret);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accounts_and_the_token_secret_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let secret = {
            let r = Registry::open(dir.path()).unwrap();
            let user = json!({"Name": "ops", "Roles": ["a"], "PasswordHash": "$argon2id$x"});
            r.put_account(Accounts::Users, "ops", user).unwrap();
            r.put_account(Accounts::Roles, "a", json!({"Name": "a", "Claims": []}))
                .unwrap();
            r.put_account(Accounts::Roles, "b", json!({"Name": "b"}))
                .unwrap();
            assert!(r.delete_account(Accounts::Roles, "b").unwrap());
            assert!(!r.delete_account(Accounts::Roles, "b").unwrap());
            r.token_secret()
        };
        assert_eq!(secret.len(), 64);
        let r = Registry::open(dir.path()).unwrap();
        assert_eq!(r.token_secret(), secret);
        assert_eq!(
            r.account(Accounts::Users, "ops").unwrap()["Roles"],
            json!(["a"])
        );
        assert_eq!(
            r.accounts(Accounts::Roles).keys().collect::<Vec<_>>(),
            ["a"]
        );
    }
}
