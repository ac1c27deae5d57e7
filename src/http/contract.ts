import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

/** openapi.yaml at the project root, found from this module whether it runs from src/ or dist/src/. */
function findContractPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'openapi.yaml');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('openapi.yaml not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

export const contractPath = findContractPath();

/** openapi.yaml as written and as parsed. */
export interface Contract {
  text: string;
  document: OpenApiDocument;
}

/** The contract: the single source of truth for routes, validation and response shapes. */
export function loadContract(): Contract {
  const text = readFileSync(contractPath, 'utf8');
  return { text, document: parse(text) as OpenApiDocument };
}
