// Checks an HTTP response against an OpenAPI 3.1 document: the status must be
// one the document gives for that path and method (a path it does not list must
// answer components.responses.NotFound, a method it does not list
// MethodNotAllowed), and the content type, body and required headers must be
// as that response describes them. An object schema that lists its properties
// is checked as closed: a field the server sends but the document does not
// describe is a mismatch, so the document cannot fall behind the code.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

type Json = Record<string, unknown>;

/** A response as it arrived. */
export interface ObservedResponse {
  status: number;
  headers: Headers;
  /** The body as text; empty when there is none. */
  text: string;
}

const DOC_ID = 'https://kaos-memory.invalid/openapi.json';

/** A JSON pointer segment (RFC 6901), as it goes in a URI fragment. */
const segment = (s: string) => encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'));

export class ResponseValidator {
  private readonly doc: Json;
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly paths: { template: string; pattern: RegExp }[];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(document: Json) {
    this.doc = closeObjects(structuredClone(document)) as Json;
    this.ajv.addSchema({ ...this.doc, $id: DOC_ID });
    this.paths = Object.keys(this.doc.paths as Json).map((template) => ({
      template,
      pattern: new RegExp(
        `^${template
          .split(/\{\w+\}/)
          .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
          .join('[^/]+')}$`,
      ),
    }));
  }

  /** What is wrong with `response` to `method target`; empty when it is as documented. */
  problems(method: string, target: string, response: ObservedResponse): string[] {
    const [where, expected] = this.locate(method, target, response.status);
    if (typeof expected === 'string') return [expected];
    let pointer = where;
    let spec = expected;
    if (typeof spec.$ref === 'string') {
      pointer = spec.$ref.slice(1);
      spec = this.at(pointer);
    }
    return [...this.headerProblems(spec, response), ...this.bodyProblems(pointer, spec, response)];
  }

  /** The pointer to the response the document gives, or why it gives none. */
  private locate(method: string, target: string, status: number): [string, Json | string] {
    const path = target.split('?')[0] ?? target;
    const found = this.paths.find((p) => p.pattern.test(path));
    const fallback = (name: string, expectedStatus: number): [string, Json | string] => {
      if (status !== expectedStatus) {
        return ['', `status ${status}, but the document answers ${expectedStatus} (${name}) here`];
      }
      const pointer = `/components/responses/${name}`;
      return [pointer, this.at(pointer)];
    };
    if (!found) return fallback('NotFound', 404);
    const operation = (this.doc.paths as Record<string, Json>)[found.template]?.[
      method.toLowerCase()
    ] as Json | undefined;
    if (!operation) return fallback('MethodNotAllowed', 405);
    const responses = operation.responses as Json;
    if (!Object.hasOwn(responses, String(status))) {
      return [
        '',
        `status ${status} is not documented for ${method} ${found.template} ` +
          `(documented: ${Object.keys(responses).join(', ')})`,
      ];
    }
    const pointer = `/paths/${segment(found.template)}/${method.toLowerCase()}/responses/${status}`;
    return [pointer, responses[String(status)] as Json];
  }

  private headerProblems(spec: Json, response: ObservedResponse): string[] {
    const problems: string[] = [];
    for (const [name, header] of Object.entries((spec.headers ?? {}) as Record<string, Json>)) {
      const value = response.headers.get(name);
      if (value === null) {
        if (header.required === true) problems.push(`header ${name} is missing`);
        continue;
      }
      const schema = (header.schema ?? {}) as Json;
      const typed = schema.type === 'integer' || schema.type === 'number' ? Number(value) : value;
      const validate = this.ajv.compile(schema);
      if (!validate(typed))
        problems.push(`header ${name}: ${value} ${this.ajv.errorsText(validate.errors)}`);
    }
    return problems;
  }

  private bodyProblems(pointer: string, spec: Json, response: ObservedResponse): string[] {
    const type = response.headers.get('content-type');
    const content = spec.content as Record<string, Json> | undefined;
    if (!content) {
      const problems: string[] = [];
      if (response.text !== '') problems.push('has a body, but the document describes none');
      if (type !== null) problems.push(`has content-type ${type}, but no body is described`);
      return problems;
    }
    const essence = type?.split(';')[0]?.trim().toLowerCase() ?? '';
    const media = content[essence];
    if (!media) {
      return [
        `content-type ${type ?? '(none)'}, but the document gives ${Object.keys(content).join(', ')}`,
      ];
    }
    if (media.schema === undefined) return [];
    let body: unknown = response.text;
    if (essence === 'application/json' || essence.endsWith('+json')) {
      try {
        body = JSON.parse(response.text);
      } catch {
        return [`the body is not JSON: ${response.text.slice(0, 200)}`];
      }
    }
    const validate = this.validator(`${pointer}/content/${segment(essence)}/schema`);
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) =>
        `body${e.instancePath}: ${e.message ?? 'is wrong'} (${e.schemaPath} ${JSON.stringify(e.params)})`,
    );
  }

  private validator(pointer: string): ValidateFunction {
    let validate = this.compiled.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `${DOC_ID}#${pointer}` });
      this.compiled.set(pointer, validate);
    }
    return validate;
  }

  /** The document's value at a JSON pointer (with segments as in a URI fragment). */
  private at(pointer: string): Json {
    let node: unknown = this.doc;
    for (const part of pointer.split('/').slice(1)) {
      const key = decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~');
      node = (node as Json)[key];
    }
    if (node === undefined) throw new Error(`the document has nothing at ${pointer}`);
    return node as Json;
  }
}

/** Every object schema that lists its properties and says nothing of others admits no others. */
function closeObjects(node: unknown): unknown {
  if (Array.isArray(node)) node.forEach(closeObjects);
  else if (node !== null && typeof node === 'object') {
    const o = node as Json;
    if (o.type === 'object' && o.properties !== undefined && o.additionalProperties === undefined) {
      o.additionalProperties = false;
    }
    Object.values(o).forEach(closeObjects);
  }
  return node;
}
