//! The in-memory backend: one mutex over every store, so each operation is
//! atomic with respect to every other.

use super::{Backend, Error, Pending, Seen, Version, Write, Written, add, counter};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

#[derive(Debug, Default)]
pub(super) struct Memory {
    data: Mutex<Data>,
}

#[derive(Debug, Default)]
struct Data {
    /// The last version handed out.
    clock: Version,
    /// Store name → key → (version, value).
    stores: BTreeMap<String, BTreeMap<String, (Version, Vec<u8>)>>,
}

impl Data {
    fn next_version(&mut self) -> Version {
        self.clock += 1;
        self.clock
    }

    fn entries(&mut self, store: &str) -> &mut BTreeMap<String, (Version, Vec<u8>)> {
        self.stores.entry(store.to_owned()).or_default()
    }

    fn version(&self, store: &str, key: &str) -> Option<Version> {
        self.stores
            .get(store)
            .and_then(|entries| entries.get(key))
            .map(|(version, _)| *version)
    }
}

impl Memory {
    fn lock(&self) -> MutexGuard<'_, Data> {
        // A panic elsewhere cannot leave an operation half done: each one
        // changes the map in a single step.
        self.data.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Backend for Memory {
    fn read(&self, store: &str, key: &str) -> Result<Seen, Error> {
        let data = self.lock();
        let entry = data
            .stores
            .get(store)
            .and_then(|entries| entries.get(key))
            .cloned();
        Ok(Seen { entry })
    }

    fn read_many(&self, store: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let data = self.lock();
        let entries = data.stores.get(store);
        Ok(keys
            .iter()
            .map(|key| {
                entries
                    .and_then(|entries| entries.get(key))
                    .map(|(_, value)| value.clone())
            })
            .collect())
    }

    fn keys(&self, store: &str) -> Result<Vec<String>, Error> {
        let data = self.lock();
        Ok(data
            .stores
            .get(store)
            .map(|entries| entries.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn write(&self, write: Write) -> Pending {
        Pending::Answered(self.apply(write))
    }

    fn write_blocking(&self, write: Write) -> Result<Written, Error> {
        self.apply(write)
    }
}

impl Memory {
    /// Runs `write` at once: the data's one lock makes it atomic.
    fn apply(&self, write: Write) -> Result<Written, Error> {
        match write {
            Write::Entries { store, entries } => {
                self.write_many(&store, entries);
                Ok(Written::Done)
            }
            Write::Delete { store, keys } => {
                self.delete_many(&store, &keys);
                Ok(Written::Done)
            }
            Write::Swap {
                store,
                key,
                expected,
                value,
            } => Ok(Written::Swapped(self.swap(&store, &key, expected, value))),
            Write::Increment { store, key, delta } => {
                self.increment(&store, &key, delta).map(Written::Counter)
            }
            Write::Clear { stores } => {
                self.clear(&stores);
                Ok(Written::Done)
            }
        }
    }

    fn write_many(&self, store: &str, entries: Vec<(String, Vec<u8>)>) {
        let mut data = self.lock();
        let version = data.next_version();
        let map = data.entries(store);
        for (key, value) in entries {
            map.insert(key, (version, value));
        }
    }

    fn delete_many(&self, store: &str, keys: &[String]) {
        let mut data = self.lock();
        let map = data.entries(store);
        for key in keys {
            map.remove(key);
        }
    }

    fn swap(&self, store: &str, key: &str, expected: Option<Version>, value: Vec<u8>) -> bool {
        let mut data = self.lock();
        if data.version(store, key) != expected {
            return false;
        }
        let version = data.next_version();
        data.entries(store).insert(key.to_owned(), (version, value));
        true
    }

    fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, Error> {
        let mut data = self.lock();
        let current = match data.stores.get(store).and_then(|entries| entries.get(key)) {
            Some((_, value)) => counter(key, value)?,
            None => 0,
        };
        let sum = add(key, current, delta)?;
        let version = data.next_version();
        data.entries(store)
            .insert(key.to_owned(), (version, sum.to_le_bytes().to_vec()));
        Ok(sum)
    }

    fn clear(&self, stores: &[String]) {
        let mut data = self.lock();
        for store in stores {
            data.stores.remove(store);
        }
    }
}
