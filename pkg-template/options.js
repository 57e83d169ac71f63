// The caller's options, checked for their types and handed to the wasm core as a flat object
// keyed by option name (`timeoutMs`, `keycloak.realm`), with `scope` as a list,
// `extraParams` as a flat `[name, value, ...]` list and flags as 1 or 0. The core checks the values (URLs, ranges,
// choices). Which options exist and their types come from option-table.js, generated from the
// settings table in src/options.rs. Type checks live here because the wasm would spend 4 KB on
// them; every message says what to fix, and none quotes a value.

import { OPTIONS } from './option-table.js';

const isObject = (value) => typeof value === 'object' && value !== null;

/** `object[name]` if it is the object's own: nothing is read through a (polluted) prototype. */
const own = (object, name) => (Object.hasOwn(object, name) ? object[name] : undefined);

/** The fields of a group option, as its rows name them: `{ baseUrl, realm }`. */
const fields = (group) =>
  Object.keys(OPTIONS).filter((path) => path.startsWith(`${group}.`)).map((path) => path.slice(group.length + 1));

/** Per type: the value as the core reads it, or a call to `fail`. */
const CHECKS = {
  text: (value, path, fail) => (typeof value === 'string' ? value : fail(`${path} must be a string`)),
  number: (value, path, fail) => (typeof value === 'number' ? value : fail(`${path} must be a number`)),
  // As 1 or 0: the core reads numbers, and a boolean reader would cost the wasm its own import.
  flag: (value, path, fail) => (typeof value === 'boolean' ? +value : fail(`${path} must be true or false`)),
  function: (value, path, fail) => (typeof value === 'function' ? value : fail(`${path} must be a function`)),
  group: (value, path, fail) => (isObject(value) ? undefined : fail(`${path} must be an object { ${fields(path).join(', ')} }`)),
  scopes: (value, path, fail) => {
    const list = typeof value === 'string' ? value.split(/\s+/).filter(Boolean) : value;
    return Array.isArray(list) && list.every((s) => typeof s === 'string') ? list : fail(`${path} must be a string or an array of strings`);
  },
  params: (value, path, fail) => {
    if (!isObject(value)) fail(`${path} must be an object of string values`);
    return Object.keys(value).flatMap((name) => [name, CHECKS.text(own(value, name), `${path}.${name}`, fail)]);
  },
};

/**
 * `{ flat, fetch, onEvent }` for valid option types; otherwise calls `fail(message)`, which throws.
 */
export function flatOptions(options, fail) {
  if (!isObject(options)) fail('options must be an object such as { tokenUrl, clientId, clientSecret }');
  for (const key of Object.keys(options)) if (key.includes('.') || !Object.hasOwn(OPTIONS, key)) fail(`unknown option '${key}'`);

  // No prototype: the wasm reads what is set here and nothing else.
  const flat = Object.create(null);
  for (const [path, type] of Object.entries(OPTIONS)) {
    const [group, field] = path.split('.');
    const holder = field === undefined ? options : own(options, group);
    const value = isObject(holder) ? own(holder, field ?? group) : undefined;
    if (value !== undefined && value !== null) flat[path] = CHECKS[type](value, path, fail);
  }
  const chosen = flat.fetch ?? globalThis.fetch;
  if (typeof chosen !== 'function') fail('this runtime has no global fetch: pass options.fetch');
  const { onEvent } = flat;
  delete flat.fetch;
  delete flat.onEvent;
  return { flat, fetch: chosen, onEvent };
}
