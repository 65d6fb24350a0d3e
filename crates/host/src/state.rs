//! What one `Store` holds: WASI, `wasi:http`, the component's variables and
//! the host's key-value stores.

use crate::bindings::spin::fermyon::spin::variables as spin_variables;
use crate::bindings::wasi::config::store;
use crate::keyvalue::KeyValueStores;
use crate::manifest::validate_name;
use crate::outbound::Outbound;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

pub(crate) struct StoreState {
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) outbound: Outbound,
    /// The component variables: the keys `wasi:config` and Spin's variables interface answer for.
    pub(crate) variables: Arc<BTreeMap<String, String>>,
    /// The host's key-value stores (`wasi:keyvalue`), shared by all its instances.
    pub(crate) keyvalue: KeyValueStores,
    /// Reads of each variable through `wasi:config`, shared by all instances.
    pub(crate) variable_reads: VariableReads,
}

/// How often each variable was read, by name ([`crate::Host::variable_reads`]).
pub(crate) type VariableReads = Arc<Mutex<BTreeMap<String, u64>>>;

fn count(reads: &VariableReads, key: &str) {
    let mut reads = reads.lock().unwrap_or_else(PoisonError::into_inner);
    match reads.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            reads.insert(key.to_owned(), 1);
        }
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// `wasi:config/store@0.2.0-draft-2024-09-27`: a key the manifest does not give
/// the component reads as `none`, as under Spin.
impl store::Host for StoreState {
    fn get(&mut self, key: String) -> Result<Option<String>, store::Error> {
        count(&self.variable_reads, &key);
        Ok(self.variables.get(&key).cloned())
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, store::Error> {
        for key in self.variables.keys() {
            count(&self.variable_reads, key);
        }
        Ok(self
            .variables
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }
}

/// `fermyon:spin/variables@2.0.0`, with Spin's errors for bad and unknown names.
impl spin_variables::Host for StoreState {
    fn get(&mut self, name: String) -> Result<String, spin_variables::Error> {
        count(&self.variable_reads, &name);
        if let Err(err) = validate_name(&name) {
            return Err(spin_variables::Error::InvalidName(format!("{err:#}")));
        }
        self.variables
            .get(&name)
            .cloned()
            .ok_or_else(|| spin_variables::Error::Undefined(format!("no variable for {name:?}")))
    }
}
