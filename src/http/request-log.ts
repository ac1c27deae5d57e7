import { randomUUID } from 'node:crypto';
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import { pino, type Bindings, type ChildLoggerOptions } from 'pino';
import { operationIdOf } from './request.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Request id: the caller's X-Request-Id when it is sane (to follow a call across services), else new. */
export function requestIdFor(request: { headers: Record<string, string | string[] | undefined> }): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

// A key sent where it does not belong (?access_token=osk_…) must not reach the log either.
const KEY_LIKE = /osk_[A-Za-z0-9_-]*/g;
const SECRET_PARAMETER = /([?&][^=&]*(?:token|key|secret|password|auth)[^=&]*=)[^&]*/gi;

/** In every name SECRET_PARAMETER redacts: a URL without any of them has nothing to redact by name. */
const SECRET_WORD = /token|key|secret|password|auth/i;

export function withoutSecrets(url: string): string {
  // Most URLs have no key and no parameter named like a secret (a query of instants, a cursor): one
  // cheap test each instead of two global replacements on every logged URL.
  const keyLike = url.includes('osk_');
  const secretNamed = (url.includes('?') || url.includes('&')) && SECRET_WORD.test(url);
  if (!keyLike && !secretNamed) return url;
  const withoutKeys = keyLike ? url.replace(KEY_LIKE, 'osk_[redacted]') : url;
  return secretNamed ? withoutKeys.replace(SECRET_PARAMETER, '$1[redacted]') : withoutKeys;
}

/** What pino keeps on a logger: its stream and its bindings as JSON text (`,"pid":…,"reqId":"…"`). */
type PinoInternals = Record<symbol, unknown>;

/** A pino logger's stream and bindings text, or undefined for another kind of logger. */
function pinoParts(log: unknown): { stream: { write(line: string): unknown }; bindings: string } | undefined {
  const internals = log as PinoInternals;
  const stream = internals[pino.symbols.streamSym] as { write(line: string): unknown } | undefined;
  const bindings = internals[pino.symbols.chindingsSym];
  return stream === undefined || typeof bindings !== 'string' ? undefined : { stream, bindings };
}

type LogArguments = Parameters<pino.LogFn>;

/**
 * A request's logger that becomes pino's child logger only when something logs through it. Fastify
 * gives every request a child (pino serializes its bindings and builds an object of a dozen
 * members: about 1.5 µs a request, measured with the CPU profiler on GET /availability), yet most
 * requests log nothing but their completion line, which RequestLog writes itself from the parent's
 * stream and bindings and these. An error, a warning or a route's own line makes the child then,
 * with the same bindings, so its lines are what they were.
 */
export class RequestLogger implements FastifyBaseLogger {
  private child_: FastifyBaseLogger | undefined;

  constructor(
    readonly parent: FastifyBaseLogger,
    readonly bindings: Bindings,
  ) {}

  /** pino's child logger, made on first use. */
  get pino(): FastifyBaseLogger {
    return (this.child_ ??= this.parent.child(this.bindings));
  }

  /** Whether nothing has logged through this logger yet (so pino's child was never made). */
  get unused(): boolean {
    return this.child_ === undefined;
  }

  get level(): string {
    return this.child_?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.pino.level = level;
  }

  // One plain delegate per level, as FastifyBaseLogger declares them: typed and greppable, where a
  // loop patching the prototype would hide the methods from the type checker and from readers.
  fatal(...args: LogArguments): void {
    this.pino.fatal(...args);
  }
  error(...args: LogArguments): void {
    this.pino.error(...args);
  }
  warn(...args: LogArguments): void {
    this.pino.warn(...args);
  }
  info(...args: LogArguments): void {
    this.pino.info(...args);
  }
  debug(...args: LogArguments): void {
    this.pino.debug(...args);
  }
  trace(...args: LogArguments): void {
    this.pino.trace(...args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.pino.child(bindings, options);
  }
}

/**
 * Fastify's childLoggerFactory: a RequestLogger under a pino logger; pino's child at once where a
 * route sets its own log level or serializers, or the logger is not pino's.
 */
export function requestLoggerFor(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  if (Object.keys(options).length > 0 || pinoParts(logger) === undefined) return logger.child(bindings, options);
  return new RequestLogger(logger, bindings);
}

const PLAIN = /^[\w.-]*$/;

/** A JSON string of text that needs no escaping (a request id, a binding's name) without JSON.stringify. */
const jsonText = (value: unknown) =>
  typeof value === 'string' && PLAIN.test(value) ? `"${value}"` : JSON.stringify(value);

/** Bindings as pino writes them after its own (`,"reqId":"…"`); like pino, an undefined value is left out. */
function bindingsText(bindings: Bindings): string {
  let text = '';
  for (const key in bindings) {
    const value: unknown = bindings[key];
    if (value !== undefined) text += `,${jsonText(key)}:${jsonText(value)}`;
  }
  return text;
}

/** The text of one request's line, after pino's level, time and bindings. */
function accessFields(request: FastifyRequest, reply: FastifyReply): string {
  const operationId = operationIdOf(request);
  // Method and operationId are tokens (Node and the contract check them), the rest numbers: only
  // the URL can need escaping.
  return (
    `,"method":"${request.method}","url":${JSON.stringify(withoutSecrets(request.url))}` +
    (operationId === undefined ? '' : `,"operationId":"${operationId}"`) +
    `,"statusCode":${reply.statusCode},"responseTimeMs":${Math.round(reply.elapsedTime * 100) / 100}`
  );
}

/**
 * One log line per request, at completion, with its id, operation, status and duration; never
 * bodies or headers (so never a credential). Fastify's "incoming request" line is dropped.
 *
 * The line is pino's own: its level and time, the request logger's bindings (pid, hostname,
 * reqId) as pino holds them, written to pino's stream. It is composed as text rather than through
 * logger.info(object), which walks the object generically: on the cheapest requests the log line
 * was the largest cost after the socket writes (pino's path about 13 µs of 80, measured A/B with
 * the line off). Errors still go through pino (logger.error with the error serialised).
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override routeNotFound(): void {}

  override requestCompleted(error: Error | null, request: FastifyRequest, reply: FastifyReply): void {
    const log = request.log;
    if (error) {
      const line = {
        method: request.method,
        url: withoutSecrets(request.url),
        operationId: operationIdOf(request),
        statusCode: reply.statusCode,
        responseTimeMs: Math.round(reply.elapsedTime * 100) / 100,
        err: error,
      };
      log.error(line, 'request errored');
      return;
    }
    // Unused, the request's logger is its parent's bindings and its own; else pino's child's.
    const unused = log instanceof RequestLogger && log.unused;
    const pinoLogger = unused ? log.parent : log;
    const parts = pinoParts(pinoLogger);
    // Not a pino logger (logging off, or a test's own): the ordinary way.
    if (parts === undefined) {
      log.info(JSON.parse(`{${accessFields(request, reply).slice(1)}}`) as object, 'request');
      return;
    }
    if (!(pinoLogger as pino.Logger).isLevelEnabled('info')) return;
    const bindings = unused ? parts.bindings + bindingsText(log.bindings) : parts.bindings;
    parts.stream.write(`{"level":30,"time":${Date.now()}${bindings}${accessFields(request, reply)},"msg":"request"}\n`);
  }
}
