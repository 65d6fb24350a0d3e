// wasi:config/store@0.2.0-draft-2024-09-27 for FinConnect under Node.
//
// jco's preview2-shim has no wasi:config, so `jco transpile --map
// 'wasi:config/store=../config.mjs'` points the component's import here.
// Each key FinConnect reads (`pesapal_base_url`, `pesapal_consumer_key`, ...)
// comes from the environment variable SPIN_VARIABLE_<KEY IN UPPER CASE>,
// the same names `spin up` uses, read at call time.

const PREFIX = 'SPIN_VARIABLE_';

/** The value of `key`, or `undefined` (WIT `none`) when it is not set. */
export function get(key) {
  return process.env[PREFIX + key.toUpperCase()];
}

/** Every `SPIN_VARIABLE_*` variable as `[key, value]` pairs, keys in lower case. */
export function getAll() {
  return Object.entries(process.env)
    .filter(([name]) => name.startsWith(PREFIX) && name.length > PREFIX.length)
    .map(([name, value]) => [name.slice(PREFIX.length).toLowerCase(), value]);
}
