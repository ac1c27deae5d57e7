import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { loadContract } from '../../src/http/contract.js';

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const addFormats = addFormatsModule.default ?? addFormatsModule;

const { document } = loadContract();
const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false });
addFormats(ajv);
ajv.addSchema({ ...document, $id: 'openapi' });

type Json = Record<string, unknown>;

const operations = Object.entries(document.paths).map(([template, item]) => ({
  template,
  pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
  item: item as Json,
}));

const pointer = (...segments: string[]) => segments.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** A `#/...` reference in the document → the object and its JSON pointer. */
function resolve(node: Json, at: string): { node: Json; at: string } {
  const ref = node.$ref;
  if (typeof ref !== 'string') return { node, at };
  const target = ref
    .slice(2)
    .split('/')
    .reduce<unknown>((o, k) => (o as Json)[k.replace(/~1/g, '/').replace(/~0/g, '~')], document);
  return resolve(target as Json, ref.slice(1));
}

export interface ContractResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/**
 * What is wrong with a response according to openapi.yaml: its status must be declared for the
 * operation, its media type must match, its body must validate against the declared schema, and
 * declared headers must be present. Unknown paths must answer with a Problem.
 */
export function contractViolations(method: string, path: string, response: ContractResponse): string[] {
  const problems: string[] = [];
  const contentType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const op = operations.find((o) => o.pattern.test(path.split('?')[0]!));
  const operation = op?.item[method.toLowerCase()] as Json | undefined;
  if (!op || !operation) {
    if (response.status !== 404 && response.status !== 405)
      problems.push(`undeclared ${method} ${path} answered ${response.status}`);
    return problems.concat(
      validate('openapi#/components/schemas/Problem', response.body, contentType, 'application/problem+json'),
    );
  }
  const responses = operation.responses as Json;
  const declared = responses[String(response.status)] as Json | undefined;
  if (!declared)
    return [
      `${method} ${op.template}: status ${response.status} is not declared (body ${JSON.stringify(response.body)})`,
    ];
  const { node, at } = resolve(
    declared,
    '/' + pointer('paths', op.template, method.toLowerCase(), 'responses', String(response.status)),
  );
  for (const [name, header] of Object.entries((node.headers as Json | undefined) ?? {})) {
    const { node: declaredHeader } = resolve(header as Json, '');
    if (declaredHeader.required === true && !response.headers.has(name)) {
      problems.push(`${method} ${op.template} ${response.status}: required header ${name} is missing`);
    }
  }
  const content = node.content as Json | undefined;
  if (!content) {
    if (response.body !== undefined && response.body !== '')
      problems.push(`${method} ${op.template} ${response.status}: body not declared`);
    return problems;
  }
  const mediaType = Object.keys(content)[0]!;
  return problems.concat(
    validate(`openapi#${at}/content/${pointer(mediaType)}/schema`, response.body, contentType, mediaType),
  );
}

function validate(schemaRef: string, body: unknown, contentType: string, expectedType: string): string[] {
  if (contentType !== expectedType) return [`content-type ${contentType || '(none)'} instead of ${expectedType}`];
  const check = ajv.getSchema(schemaRef);
  if (!check) return [`no schema at ${schemaRef}`];
  if (check(body)) return [];
  return (check.errors ?? []).map((e) => `body${e.instancePath} ${e.message} (${schemaRef})`);
}
