/**
 * @file A small JSON Schema (draft-07) validator — the keywords electron-builder's scheme.json uses: type, $ref,
 * anyOf, properties, additionalProperties, items, enum, const, required, minItems / maxItems and ajv's `typeof` —
 * reporting every fault with its JSON path. For checking configuration files in tests.
 */

export interface SchemaFault {
  path: string;
  message: string;
}

type Schema = boolean | { [k: string]: unknown };

const typeOf = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;
const matchesType = (v: unknown, t: string) => typeOf(v) === t || (t === 'number' && typeof v === 'number');

/**
 * Validates `value` against `schema` (a root schema with `definitions`); returns the faults, [] when valid.
 *
 * @example validateSchema(scheme, { appId: 1 }) // [{ path: '$.appId', message: 'must be string or null' }]
 */
export function validateSchema(root: Record<string, unknown>, value: unknown): SchemaFault[] {
  const resolve = (ref: string): Schema => {
    if (!ref.startsWith('#/')) throw new Error(`only local $refs are supported, got ${ref}`);
    return ref
      .slice(2)
      .split('/')
      .reduce<unknown>(
        (o, k) => (o as Record<string, unknown>)[decodeURIComponent(k.replace(/~1/g, '/').replace(/~0/g, '~'))],
        root,
      ) as Schema;
  };

  const check = (schema: Schema, v: unknown, path: string): SchemaFault[] => {
    if (schema === true) return [];
    if (schema === false) return [{ path, message: 'is not allowed here' }];
    const s = schema;
    if (typeof s.$ref === 'string') return check(resolve(s.$ref), v, path);
    const faults: SchemaFault[] = [];
    if (Array.isArray(s.anyOf)) {
      const branches = (s.anyOf as Schema[]).map((b) => check(b, v, path));
      if (branches.every((f) => f.length > 0)) {
        // report the branch that got furthest (its faults deepest, then fewest), so the message names the real problem
        const depth = (fs: SchemaFault[]) => Math.max(...fs.map((f) => f.path.length));
        const best = branches.reduce((a, b) =>
          depth(b) > depth(a) || (depth(b) === depth(a) && b.length < a.length) ? b : a,
        );
        faults.push(...best);
      }
    }
    if (s.typeof === 'function' && typeof v !== 'function') faults.push({ path, message: 'must be a function' });
    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => matchesType(v, t))) return [...faults, { path, message: `must be ${types.join(' or ')}` }];
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v)))
      faults.push({ path, message: `must be one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}` });
    if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(v))
      faults.push({ path, message: `must be ${JSON.stringify(s.const)}` });
    if (Array.isArray(v)) {
      if (typeof s.minItems === 'number' && v.length < s.minItems)
        faults.push({ path, message: `needs at least ${s.minItems} items` });
      if (typeof s.maxItems === 'number' && v.length > s.maxItems)
        faults.push({ path, message: `takes at most ${s.maxItems} items` });
      if (s.items && typeof s.items === 'object' && !Array.isArray(s.items))
        v.forEach((item, i) => faults.push(...check(s.items as Schema, item, `${path}[${i}]`)));
    }
    if (typeOf(v) === 'object') {
      const obj = v as Record<string, unknown>;
      const props = (s.properties ?? {}) as Record<string, Schema>;
      for (const req of (s.required ?? []) as string[])
        if (!(req in obj)) faults.push({ path, message: `needs "${req}"` });
      for (const [k, child] of Object.entries(obj)) {
        const at = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
        if (Object.hasOwn(props, k)) faults.push(...check(props[k]!, child, at));
        else if (s.additionalProperties === false) faults.push({ path: at, message: 'is not a known option' });
        else if (s.additionalProperties && typeof s.additionalProperties === 'object')
          faults.push(...check(s.additionalProperties as Schema, child, at));
      }
    }
    return faults;
  };

  return check(root as Schema, value, '$');
}
