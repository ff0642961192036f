/**
 * A validator for OCSF events derived at test time from the OCSF source definitions in ../shared/ocsf-1.6.0
 * (events/*.json with `extends`, objects/*.json, dictionary.json): required attributes, attribute types (scalar
 * and object, arrays), enum ids. Profiles are not shipped there, so an attribute a profile adds is accepted when
 * the dictionary defines it (and is type-checked from the dictionary).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const OCSF_DIR = resolve(import.meta.dirname, '../../../shared/ocsf-1.6.0');

interface AttributeDef {
  requirement?: 'required' | 'recommended' | 'optional';
  type?: string;
  is_array?: boolean;
  enum?: Record<string, { caption: string }>;
}
interface Definition {
  extends?: string;
  uid?: number;
  attributes: Record<string, AttributeDef>;
}

const DERIVED_IDS = new Set(['class_uid', 'category_uid', 'type_uid']);

const read = <T>(path: string): T => JSON.parse(readFileSync(join(OCSF_DIR, path), 'utf8')) as T;

export class OcsfSchema {
  private readonly dictionary = read<{ attributes: Record<string, AttributeDef>; types: { attributes: Record<string, { type?: string }> } }>('dictionary.json');
  readonly version = read<{ version: string }>('version.json').version;

  static available(): boolean {
    return existsSync(join(OCSF_DIR, 'dictionary.json'));
  }

  /** The attributes of an event class: its own over those of the classes it extends. */
  classAttributes(path: string): Record<string, AttributeDef> {
    const chain: Definition[] = [];
    for (let file: string | undefined = path, depth = 0; file && depth < 5; depth += 1) {
      const def: Definition = read<Definition>(file);
      chain.unshift(def);
      file = def.extends === 'finding' ? 'events/findings/finding.json' : def.extends === 'base_event' ? 'events/base_event.json' : undefined;
    }
    return this.merge(chain);
  }

  /** The attributes of an object, following `extends` through the objects shipped; undefined for one not shipped. */
  objectAttributes(name: string): Record<string, AttributeDef> | undefined {
    if (!existsSync(join(OCSF_DIR, 'objects', `${name}.json`))) return undefined;
    const chain: Definition[] = [];
    for (let current: string | undefined = name, depth = 0; current && depth < 5; depth += 1) {
      if (!existsSync(join(OCSF_DIR, 'objects', `${current}.json`))) break;
      const def: Definition = read<Definition>(`objects/${current}.json`);
      chain.unshift(def);
      current = def.extends;
    }
    return this.merge(chain);
  }

  uidOf(path: string): number | undefined {
    return read<Definition>(path).uid;
  }

  private merge(chain: Definition[]): Record<string, AttributeDef> {
    const merged: Record<string, AttributeDef> = {};
    for (const def of chain) {
      for (const [name, attr] of Object.entries(def.attributes)) {
        if (name === '$include') continue;
        const before = merged[name] ?? {};
        merged[name] = { ...before, ...attr, enum: { ...before.enum, ...attr.enum } };
      }
    }
    return merged;
  }

  /** The full definition of an attribute in a context: the dictionary's, overridden by the class or object. */
  private attribute(name: string, local: AttributeDef | undefined): AttributeDef | undefined {
    const global = this.dictionary.attributes[name];
    if (!global && !local) return undefined;
    return { ...global, ...local, enum: { ...global?.enum, ...local?.enum } };
  }

  private baseType(type: string): string {
    let t = type;
    for (let i = 0; i < 5 && this.dictionary.types.attributes[t]?.type; i += 1) t = this.dictionary.types.attributes[t].type!;
    return t;
  }

  /** Every problem of `value` against `attributes`, as `path: what`. */
  validate(value: Record<string, unknown>, attributes: Record<string, AttributeDef>, path = ''): string[] {
    const problems: string[] = [];
    for (const [name, attr] of Object.entries(attributes)) {
      if (attr.requirement === 'required' && value[name] === undefined) problems.push(`${path}${name}: required, missing`);
    }
    for (const [name, v] of Object.entries(value)) {
      const attr = this.attribute(name, attributes[name]);
      if (!attr?.type) {
        problems.push(`${path}${name}: not an OCSF attribute`);
        continue;
      }
      // The class, category and type ids are derived (category × 1000 + class uid, × 100 + activity), not enumerated
      // in base_event: the test checks them from the files separately.
      const checked = DERIVED_IDS.has(name) && !path ? { ...attr, enum: {} } : attr;
      const items = attr.is_array ? (Array.isArray(v) ? v : (problems.push(`${path}${name}: must be an array`), [])) : [v];
      items.forEach((item, i) => problems.push(...this.checkValue(item, checked, `${path}${name}${attr.is_array ? `[${i}]` : ''}`)));
    }
    return problems;
  }

  private checkValue(value: unknown, attr: AttributeDef, path: string): string[] {
    const type = attr.type!;
    if (!type.endsWith('_t')) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: must be an object (${type})`];
      const attributes = this.objectAttributes(type);
      return attributes ? this.validate(value as Record<string, unknown>, attributes, `${path}.`) : [];
    }
    const base = this.baseType(type);
    const problems: string[] = [];
    const ok =
      base === 'string_t' ? typeof value === 'string'
      : base === 'integer_t' || base === 'long_t' ? Number.isInteger(value)
      : base === 'float_t' ? typeof value === 'number'
      : base === 'boolean_t' ? typeof value === 'boolean'
      : true;
    if (!ok) problems.push(`${path}: must be ${base}, got ${JSON.stringify(value)}`);
    const enumIds = Object.keys(attr.enum ?? {});
    if (enumIds.length > 0 && !enumIds.includes(String(value))) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${enumIds.join(', ')}`);
    return problems;
  }

  /** The caption of an enum id of a dictionary or class attribute. */
  caption(name: string, id: number, local?: AttributeDef): string | undefined {
    return this.attribute(name, local)?.enum?.[String(id)]?.caption;
  }
}
