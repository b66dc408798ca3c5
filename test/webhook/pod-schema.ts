// Checks a Pod against the Kubernetes API schema, derived offline from the models that
// @kubernetes/client-node generates from the Kubernetes OpenAPI spec (v1.34): every field
// must be one the API knows, of its type, and required fields (non-optional in the model's
// declaration) must be there. A few rules the API server enforces beyond the schema follow.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';

interface Attribute {
  baseName: string;
  type: string;
  format: string;
}
type Model = { getAttributeTypeMap(): Attribute[] };

const MODELS_DIR = join(
  dirname(fileURLToPath(import.meta.resolve('@kubernetes/client-node'))),
  'gen',
  'models',
);
const required = new Map<string, Set<string>>();

function requiredFields(type: string): Set<string> {
  let fields = required.get(type);
  if (!fields) {
    const declaration = readFileSync(join(MODELS_DIR, `${type}.d.ts`), 'utf8');
    fields = new Set([...declaration.matchAll(/^\s+'([^']+)': /gm)].map((m) => m[1] ?? ''));
    required.set(type, fields);
  }
  return fields;
}

function model(type: string): Model | undefined {
  const candidate = (k8s as unknown as Record<string, unknown>)[type];
  return typeof candidate === 'function' && 'getAttributeTypeMap' in candidate
    ? (candidate as Model)
    : undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function check(value: unknown, type: string, format: string, path: string, errors: string[]): void {
  let m: RegExpExecArray | null;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (!Array.isArray(value)) return void errors.push(`${path}: expected an array`);
    value.forEach((item, i) => check(item, m![1]!, '', `${path}[${i}]`, errors));
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (!isObject(value)) return void errors.push(`${path}: expected a map`);
    for (const [key, item] of Object.entries(value))
      check(item, m[1]!, '', `${path}[${key}]`, errors);
    return;
  }
  switch (type) {
    case 'any':
      return;
    case 'string':
      if (typeof value !== 'string') errors.push(`${path}: expected a string`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') errors.push(`${path}: expected a boolean`);
      return;
    case 'number':
      if (typeof value !== 'number') errors.push(`${path}: expected a number`);
      else if (format.startsWith('int') && !Number.isInteger(value))
        errors.push(`${path}: expected an integer`);
      return;
    case 'Date':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value)))
        errors.push(`${path}: expected a date`);
      return;
    case 'IntOrString':
      if (typeof value !== 'string' && !Number.isInteger(value))
        errors.push(`${path}: expected int or string`);
      return;
  }
  const cls = model(type);
  if (!cls) return void errors.push(`${path}: unknown schema type ${type}`);
  if (!isObject(value)) return void errors.push(`${path}: expected an object (${type})`);
  const attributes = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a]));
  for (const [key, item] of Object.entries(value)) {
    const attribute = attributes.get(key);
    if (!attribute) errors.push(`${path}.${key}: unknown field of ${type}`);
    else if (item !== null) check(item, attribute.type, attribute.format, `${path}.${key}`, errors);
  }
  for (const field of requiredFields(type)) {
    if (value[field] === undefined || value[field] === null)
      errors.push(`${path}.${field}: required by ${type}`);
  }
}

/** Every way `pod` breaks the Pod schema; empty when it is a valid Pod. */
export function podSchemaErrors(pod: unknown): string[] {
  const errors: string[] = [];
  check(pod, 'V1Pod', '', 'pod', errors);
  if (errors.length > 0 || !isObject(pod)) return errors;

  // Rules from the API server's validation that the schema cannot express.
  const spec = (pod as k8s.V1Pod).spec;
  if (!spec) return ['pod.spec: required'];
  const all = [...(spec.initContainers ?? []), ...spec.containers];
  const names = new Set<string>();
  for (const c of all) {
    if (names.has(c.name)) errors.push(`container name ${c.name} is not unique`);
    names.add(c.name);
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(c.name))
      errors.push(`container name ${c.name} is not a DNS label`);
    for (const e of c.env ?? [])
      if (e.value !== undefined && e.valueFrom)
        errors.push(`${c.name} env ${e.name}: value and valueFrom`);
    for (const p of c.ports ?? [])
      if (p.containerPort < 1 || p.containerPort > 65535) errors.push(`${c.name}: bad port`);
  }
  for (const c of spec.containers)
    if (c.restartPolicy !== undefined) errors.push(`${c.name}: restartPolicy on a container`);
  for (const c of spec.initContainers ?? []) {
    if (c.restartPolicy !== undefined && c.restartPolicy !== 'Always')
      errors.push(`${c.name}: restartPolicy must be Always`);
    if (c.restartPolicy !== 'Always' && (c.startupProbe || c.livenessProbe || c.readinessProbe)) {
      errors.push(`${c.name}: probes on a plain init container`);
    }
  }
  return errors;
}
