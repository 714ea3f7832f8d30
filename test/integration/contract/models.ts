/**
 * Checks JSON against `@hubspot/api-client`'s own generated models: the attribute type maps its
 * ObjectSerializer (de)serialises by, the enums it declares, and the required fields its type
 * declarations name. What HubSpot's codegen says a response is, the stand-in must answer.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** A codegen area of the client: `crm/objects`, `crm/properties`, `crm/schemas`, `crm/associations/v4`. */
export interface ModelArea {
  dir: string;
  models: Record<string, unknown>;
}

export function modelArea(area: string): ModelArea {
  const file = require.resolve(`@hubspot/api-client/lib/codegen/${area}/models/all.js`);
  return { dir: path.dirname(file), models: require(file) as Record<string, unknown> };
}

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

const requiredCache = new Map<string, Set<string>>();

/** The fields a model's declaration does not mark optional (`'id': string` vs `'archived'?: boolean`). */
function requiredFields(area: ModelArea, model: string): Set<string> {
  const key = `${area.dir}/${model}`;
  let required = requiredCache.get(key);
  if (!required) {
    const text = readFileSync(path.join(area.dir, `${model}.d.ts`), 'utf8');
    const body = text.slice(text.indexOf(`class ${model}`));
    required = new Set([...body.matchAll(/^\s+'(\w+)':/gm)].map((m) => m[1]!));
    requiredCache.set(key, required);
  }
  return required;
}

/** Problems of `value` as the client's type `type` (empty: it conforms). `strict`: fields the model lacks are problems too. */
export function modelProblems(area: ModelArea, value: unknown, type: string, where = '$', strict = true): string[] {
  const problems: string[] = [];
  check(area, value, type, where, strict, problems);
  return problems;
}

function check(area: ModelArea, value: unknown, type: string, where: string, strict: boolean, out: string[]): void {
  const t = type.trim();
  if (t.endsWith('| null')) {
    if (value === null) return;
    return check(area, value, t.slice(0, -'| null'.length), where, strict, out);
  }
  if (value === null || value === undefined) {
    out.push(`${where}: ${String(value)} where ${t} is expected`);
    return;
  }
  const array = /^Array<(.+)>$/.exec(t);
  if (array) {
    if (!Array.isArray(value)) return void out.push(`${where}: not an array`);
    value.forEach((item, i) => check(area, item, array[1]!, `${where}[${i}]`, strict, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(t);
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) return void out.push(`${where}: not an object`);
    for (const [k, v] of Object.entries(value)) check(area, v, map[1]!, `${where}.${k}`, strict, out);
    return;
  }
  switch (t) {
    case 'string':
      if (typeof value !== 'string') out.push(`${where}: ${JSON.stringify(value)} is not a string`);
      return;
    case 'number':
      if (typeof value !== 'number') out.push(`${where}: ${JSON.stringify(value)} is not a number`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.push(`${where}: ${JSON.stringify(value)} is not a boolean`);
      return;
    case 'any':
      return;
    case 'Date':
      if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(value)) out.push(`${where}: ${JSON.stringify(value)} is not an ISO date-time`);
      return;
  }
  const model = area.models[t] as { attributeTypeMap?: Attribute[] } | Record<string, string> | undefined;
  if (!model) return void out.push(`${where}: the client has no type ${t}`);
  if (!('attributeTypeMap' in model) || !Array.isArray(model.attributeTypeMap)) {
    // An enum: its values are the strings allowed.
    if (!Object.values(model).includes(value as string)) out.push(`${where}: ${JSON.stringify(value)} is not one of ${t} (${Object.values(model).join(', ')})`);
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) return void out.push(`${where}: not an object (${t})`);
  const attributes = model.attributeTypeMap;
  const record = value as Record<string, unknown>;
  for (const field of requiredFields(area, t)) {
    const attribute = attributes.find((a) => a.name === field);
    if (attribute && record[attribute.baseName] === undefined) out.push(`${where}.${attribute.baseName}: required by ${t}, missing`);
  }
  for (const [k, v] of Object.entries(record)) {
    const attribute = attributes.find((a) => a.baseName === k);
    if (!attribute) {
      if (strict) out.push(`${where}.${k}: ${t} has no such field`);
      continue;
    }
    if (v === undefined) continue;
    check(area, v, attribute.type, `${where}.${k}`, strict, out);
  }
}

/** Every value an enum of the client allows. */
export function enumValues(area: ModelArea, name: string): string[] {
  return Object.values(area.models[name] as Record<string, string>);
}
