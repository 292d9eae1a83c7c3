// Request schemas: a small subset of JSON Schema 2020-12, written as plain objects, so that the same
// literal both validates a request here and appears unchanged in GET /openapi.json (OpenAPI 3.1
// uses JSON Schema 2020-12 as is). In-house rather than a library (ajv): the gateway needs a dozen
// keywords, messages that name the offending part the way thaw's errors do ("query parameter
// 'version': must be an integer ≥ 1, got 'abc'"), and string coercion for path, query and header
// values — and no dependency to pin and keep Node-20-compatible.

export type SchemaType = 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array' | 'null';

export interface Schema {
  type?: SchemaType;
  description?: string;
  enum?: readonly (string | number | boolean)[];
  /** Strings: an ECMAScript regular expression the whole value must match (anchor it). */
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  properties?: Readonly<Record<string, Schema>>;
  required?: readonly string[];
  /** false: no other properties; a schema: what every other property must match. */
  additionalProperties?: boolean | Schema;
  maxProperties?: number;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  /** Exactly which of these matches is not checked: the first that does wins (used for "string or {base64}"). */
  anyOf?: readonly Schema[];
  /** Documentation only (OpenAPI): binary bodies. */
  format?: string;
  contentMediaType?: string;
  examples?: readonly unknown[];
}

/** Each pattern compiled once: every request's path parameters are checked against a few of them. */
const patterns = new Map<string, RegExp>();
function compiled(pattern: string): RegExp {
  let re = patterns.get(pattern);
  if (re === undefined) patterns.set(pattern, (re = new RegExp(pattern, 'u')));
  return re;
}

/** The first way `value` fails `schema`, as "<where> must …, got …"; undefined when it matches. */
export function validate(schema: Schema, value: unknown, where: string): string | undefined {
  if (schema.anyOf) {
    const failures = schema.anyOf.map((s) => validate(s, value, where));
    if (failures.every((f) => f !== undefined)) return `${where} must be ${schema.anyOf.map(describe).join(' or ')}, got ${show(value)}`;
  }
  if (schema.type !== undefined && !hasType(value, schema.type)) return `${where} must be ${describe(schema)}, got ${show(value)}`;
  if (schema.enum && !schema.enum.includes(value as string)) return `${where} must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}, got ${show(value)}`;
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) return `${where} must be at least ${schema.minLength} characters, got ${show(value)}`;
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return `${where} must be at most ${schema.maxLength} characters, got ${value.length}`;
    if (schema.pattern !== undefined && !compiled(schema.pattern).test(value)) return `${where} ${schema.description ? `must be ${schema.description}` : `must match ${schema.pattern}`}, got ${show(value)}`;
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return `${where} must be ≥ ${schema.minimum}, got ${value}`;
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return `${where} must be > ${schema.exclusiveMinimum}, got ${value}`;
    if (schema.maximum !== undefined && value > schema.maximum) return `${where} must be ≤ ${schema.maximum}, got ${value}`;
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) return `${where} must have at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}, got ${value.length}`;
    if (schema.maxItems !== undefined && value.length > schema.maxItems) return `${where} must have at most ${schema.maxItems} items, got ${value.length}`;
    if (schema.items) {
      for (let i = 0; i < value.length; i++) {
        const failure = validate(schema.items, value[i], `${where}[${i}]`);
        if (failure) return failure;
      }
    }
  }
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) return `${where} must have at most ${schema.maxProperties} properties, got ${keys.length}`;
    for (const key of schema.required ?? []) if (!(key in value)) return `${where}.${key} is required`;
    for (const key of keys) {
      const sub = schema.properties?.[key] ?? schema.additionalProperties;
      if (sub === false) return `${where}.${key} is not a known property${schema.properties ? ` (known: ${Object.keys(schema.properties).join(', ')})` : ''}`;
      if (typeof sub === 'object') {
        const failure = validate(sub, value[key], `${where}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`);
        if (failure) return failure;
      }
    }
  }
  return undefined;
}

/**
 * A path segment, query value or header as the value its schema describes: integers and numbers
 * parsed strictly ("12", not "12abc" or " 12"), booleans from true/false/1/0; anything else stays
 * the string. A string that is not such a value is returned as is, for validate() to refuse.
 */
export function fromString(schema: Schema, raw: string): unknown {
  switch (schema.type) {
    case 'integer':
      return /^-?\d{1,15}$/.test(raw) ? Number(raw) : raw;
    case 'number':
      return /^-?\d{1,15}(\.\d{1,15})?$/.test(raw) ? Number(raw) : raw;
    case 'boolean':
      return raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
    default:
      return raw;
  }
}

function hasType(value: unknown, type: SchemaType): boolean {
  switch (type) {
    case 'integer':
      return Number.isSafeInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'null':
      return value === null;
    default:
      return typeof value === type;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** "an integer from 1 to 60000", "one of …", "a string": what a schema wants, for messages. */
function describe(schema: Schema): string {
  if (schema.enum) return `one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`;
  if (schema.description && schema.pattern) return schema.description;
  const range =
    schema.minimum !== undefined && schema.maximum !== undefined
      ? ` from ${schema.minimum} to ${schema.maximum}`
      : schema.minimum !== undefined
        ? ` ≥ ${schema.minimum}`
        : schema.exclusiveMinimum !== undefined
          ? ` > ${schema.exclusiveMinimum}`
          : '';
  switch (schema.type) {
    case 'integer':
      return `an integer${range}`;
    case 'number':
      return `a number${range}`;
    case 'boolean':
      return 'true or false';
    case 'object':
      return schema.properties?.base64 ? '{"base64": "..."}' : 'an object';
    case 'array':
      return 'an array';
    case 'null':
      return 'null';
    case 'string':
      return 'a string';
    default:
      return 'a JSON value';
  }
}

/** A value as it appears in a message: short, and quoted as the client sent it. */
function show(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 60 ? `${value.slice(0, 60)}…` : value}'`;
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
