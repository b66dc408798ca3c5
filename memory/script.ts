// One Lua script of the store and its typed binding. Each script is a file in
// memory/lua/ whose header names every key (`-- @key name`) and argument
// (`-- @arg name`, `-- @rest` for a variable tail) in order; the loader checks
// that the binding names the same ones, binds them in Lua as K.name and A.name
// (REST is the first ARGV of the tail), and expands `--!include file` lines
// with the fragments of memory/lua/lib/. Callers pass named fields and get a
// typed reply: scripts reply with name, value pairs, which the binding reads
// by name. Nothing on either side depends on a position.
import { createHash } from 'node:crypto';
import { LUA_SOURCES } from './lua/sources.js';

export type Arg = string | number | Buffer;

/** One call's inputs, by name. */
export interface ScriptCall<K extends string, A extends string> {
  keys: Readonly<Record<K, string>>;
  args: Readonly<Record<A, Arg>>;
  /** The variable tail (`@rest`), in order. */
  rest?: readonly Arg[];
}

export interface ScriptSpec<K extends string, A extends string, R> {
  keys: readonly K[];
  args: readonly A[];
  /** Whether the script takes a variable tail after its named arguments. */
  rest?: boolean;
  /** Reads the script's reply. */
  reply(fields: ReplyFields): R;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INCLUDE = /^--!include (\S+)$/;

export class LuaScript<K extends string, A extends string, R> {
  /** What EVAL runs: the bindings of K, A and REST, then the file with its includes expanded. */
  readonly lua: string;
  readonly sha: string;

  constructor(
    readonly file: string,
    private readonly spec: ScriptSpec<K, A, R>,
  ) {
    const source = LUA_SOURCES[file];
    if (source === undefined) throw new Error(`no Lua script ${file} in memory/lua`);
    const header = declared(source);
    const mismatch = (what: string, lua: readonly string[], ts: readonly string[]) =>
      new Error(`${file} declares ${what} ${lua.join(', ')}; its binding names ${ts.join(', ')}`);
    if (header.keys.join() !== spec.keys.join()) throw mismatch('keys', header.keys, spec.keys);
    if (header.args.join() !== spec.args.join()) throw mismatch('args', header.args, spec.args);
    if (header.rest !== (spec.rest === true)) {
      throw new Error(`${file} and its binding disagree on whether it takes @rest`);
    }
    for (const name of [...spec.keys, ...spec.args]) {
      if (!NAME.test(name)) throw new Error(`${file}: ${name} is not a Lua name`);
    }
    const bind = (table: string, names: readonly string[], from: string) =>
      `local ${table} = {${names.map((n, i) => `${n} = ${from}[${i + 1}]`).join(', ')}}`;
    this.lua = [
      bind('K', spec.keys, 'KEYS'),
      bind('A', spec.args, 'ARGV'),
      `local REST = ${spec.args.length + 1}`,
      expand(source, file, new Set()),
    ].join('\n');
    this.sha = createHash('sha1').update(this.lua).digest('hex');
  }

  /** KEYS, in the script's order. */
  keyList(call: ScriptCall<K, A>): string[] {
    return this.spec.keys.map((k) => call.keys[k]);
  }

  /** ARGV, in the script's order: the named arguments, then the tail. */
  argList(call: ScriptCall<K, A>): (string | Buffer)[] {
    const named = this.spec.args.map((a) => call.args[a]);
    return [...named, ...(call.rest ?? [])].map((v) => (Buffer.isBuffer(v) ? v : String(v)));
  }

  parse(raw: unknown): R {
    return this.spec.reply(new ReplyFields(raw, this.file));
  }
}

/** The names a script's header declares, in order. */
export function declared(source: string): { keys: string[]; args: string[]; rest: boolean } {
  const keys: string[] = [];
  const args: string[] = [];
  let rest = false;
  for (const line of source.split('\n')) {
    const m = /^-- @(key|arg|rest)\b\s*(\S*)/.exec(line);
    if (!m) continue;
    if (m[1] === 'rest') rest = true;
    else (m[1] === 'key' ? keys : args).push(m[2] ?? '');
  }
  return { keys, args, rest };
}

/** The source with each `--!include` line replaced by that fragment (once per script). */
function expand(source: string, file: string, included: Set<string>): string {
  return source
    .split('\n')
    .map((line) => {
      const m = INCLUDE.exec(line);
      if (!m) return line;
      const name = `lib/${m[1]}`;
      const fragment = LUA_SOURCES[name];
      if (fragment === undefined) throw new Error(`${file} includes ${name}, which does not exist`);
      if (/^-- @(key|arg|rest)\b/m.test(fragment)) {
        throw new Error(`${name} is a fragment: the script that includes it declares the names`);
      }
      if (included.has(name)) return `-- ${name} (included above)`;
      included.add(name);
      return expand(fragment, name, included).trimEnd();
    })
    .join('\n');
}

/** A script's reply read by name: scripts reply `{'name', value, 'name', value, …}`. */
export class ReplyFields {
  private readonly fields = new Map<string, unknown>();

  constructor(
    raw: unknown,
    private readonly script: string,
  ) {
    if (!Array.isArray(raw) || raw.length % 2 !== 0) {
      throw new Error(`${script} did not reply with name, value pairs`);
    }
    for (let i = 0; i < raw.length; i += 2) {
      this.fields.set(String(raw[i]), raw[i + 1]);
    }
  }

  has(name: string): boolean {
    return this.fields.has(name);
  }

  /** The value as Redis converted it (nil is null). */
  raw(name: string): unknown {
    if (!this.fields.has(name)) throw new Error(`${this.script} replied without ${name}`);
    return this.fields.get(name);
  }

  int(name: string): number {
    const value = this.raw(name);
    if (typeof value !== 'number') throw this.wrong(name, 'an integer', value);
    return value;
  }

  flag(name: string): boolean {
    return this.int(name) === 1;
  }

  str(name: string): string {
    const value = this.raw(name);
    if (typeof value === 'string') return value;
    if (Buffer.isBuffer(value)) return value.toString('utf8');
    throw this.wrong(name, 'a string', value);
  }

  list(name: string): unknown[] {
    const value = this.raw(name);
    if (!Array.isArray(value)) throw this.wrong(name, 'a list', value);
    return value;
  }

  ints(name: string): number[] {
    return this.list(name).map((v) => {
      if (typeof v !== 'number') throw this.wrong(name, 'a list of integers', v);
      return v;
    });
  }

  strs(name: string): string[] {
    return this.list(name).map((v) => {
      if (typeof v === 'string') return v;
      if (Buffer.isBuffer(v)) return v.toString('utf8');
      throw this.wrong(name, 'a list of strings', v);
    });
  }

  private wrong(name: string, want: string, got: unknown): Error {
    const kind = got === null ? 'nil' : Array.isArray(got) ? 'a list' : typeof got;
    return new Error(`${this.script} replied ${name} as ${kind}, not ${want}`);
  }
}
