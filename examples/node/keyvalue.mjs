// wasi:keyvalue/store, atomics and batch (0.2.0-draft2) for
// FinConnect under Node: one in-memory store named `default`, gone when the
// process exits.
//
// The component imports the key-value store because its HTTP face keeps a
// payment ledger there; the library functions Node calls use it only to
// share the newest M-Pesa token between concurrent calls. jco's
// preview2-shim has no wasi:keyvalue, so `jco transpile` maps the three
// interfaces here:
//   --map 'wasi:keyvalue/store=../keyvalue.mjs'
//   --map 'wasi:keyvalue/atomics=../keyvalue.mjs'
//   --map 'wasi:keyvalue/batch=../keyvalue.mjs'

const stores = new Map([['default', new Map()]]);

/** A failed call: jco hands `payload` to the component as the WIT error. */
class KeyValueError extends Error {
  constructor(payload) {
    super(payload.val ?? payload.tag);
    this.payload = payload;
  }
}

/** wasi:keyvalue/store `bucket`: keys are strings, values Uint8Arrays. */
export class Bucket {
  #entries;
  #versions;

  constructor(entries) {
    this.#entries = entries;
    // Per-key change counters, for compare-and-swap.
    this.#versions = entries.versions ?? (entries.versions = new Map());
  }

  get(key) {
    return this.#entries.get(key);
  }

  set(key, value) {
    this.#entries.set(key, Uint8Array.from(value));
    this.#bump(key);
  }

  delete(key) {
    if (this.#entries.delete(key)) this.#bump(key);
  }

  exists(key) {
    return this.#entries.has(key);
  }

  listKeys(_cursor) {
    return { keys: [...this.#entries.keys()], cursor: undefined };
  }

  version(key) {
    return this.#versions.get(key) ?? 0;
  }

  #bump(key) {
    this.#versions.set(key, this.version(key) + 1);
  }
}

/** wasi:keyvalue/store `open`: only `default` exists. */
export function open(identifier) {
  const entries = stores.get(identifier);
  if (!entries) throw new KeyValueError({ tag: 'no-such-store' });
  return new Bucket(entries);
}

/** wasi:keyvalue/atomics `cas`: remembers the key's version when opened. */
export class Cas {
  constructor(bucket, key) {
    this.bucket = bucket;
    this.key = key;
    this.seen = bucket.version(key);
  }

  static new(bucket, key) {
    return new Cas(bucket, key);
  }

  current() {
    return this.bucket.get(this.key);
  }
}

/** wasi:keyvalue/atomics `increment`: an absent key counts as 0. */
export function increment(bucket, key, delta) {
  const current = bucket.get(key);
  const value = (current ? BigInt(new TextDecoder().decode(current)) : 0n) + BigInt(delta);
  bucket.set(key, new TextEncoder().encode(value.toString()));
  return value;
}

/** wasi:keyvalue/atomics `swap`: fails if the key changed since `cas` was opened. */
export function swap(cas, value) {
  if (cas.bucket.version(cas.key) !== cas.seen) {
    throw new KeyValueError({ tag: 'cas-failed', val: new Cas(cas.bucket, cas.key) });
  }
  cas.bucket.set(cas.key, value);
}

/** wasi:keyvalue/batch `get-many`: each key with its value, or undefined. */
export function getMany(bucket, keys) {
  return keys.map((key) => [key, bucket.get(key)]);
}

/** wasi:keyvalue/batch `set-many`: every entry, in order. */
export function setMany(bucket, keyValues) {
  for (const [key, value] of keyValues) bucket.set(key, value);
}

/** wasi:keyvalue/batch `delete-many`. */
export function deleteMany(bucket, keys) {
  for (const key of keys) bucket.delete(key);
}
