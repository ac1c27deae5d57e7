import type { FastifyReply, FastifyRequest } from 'fastify';
import type { operations } from '../../generated/api.js';

// 304 counts: a conditional GET that answers "not modified" has succeeded.
type SuccessStatus = 200 | 201 | 202 | 204 | 304;

type ResponseContent<R> = R extends { content: infer C } ? C[keyof C] : undefined;
type RequestBody<Op> = Op extends { requestBody: { content: { 'application/json': infer B } } } ? B : undefined;
type PathParams<Op> = Op extends { parameters: { path: infer P } } ? P : Record<string, never>;
type QueryParams<Op> = Op extends { parameters: { query?: infer Q } }
  ? Q extends undefined
    ? Record<string, never>
    : NonNullable<Q>
  : Record<string, never>;
type SuccessBody<Op> = Op extends { responses: infer R }
  ? { [S in keyof R & SuccessStatus]: ResponseContent<R[S]> }[keyof R & SuccessStatus]
  : never;

export type OperationRequest<Op> = FastifyRequest<{
  Body: RequestBody<Op>;
  Params: PathParams<Op>;
  Querystring: QueryParams<Op>;
}>;

/**
 * One operation's handler, typed from generated/: the request as validated against openapi.yaml,
 * and the success body it must resolve to. Refusals are thrown and become problems.
 */
export type OperationHandler<Op> = (request: OperationRequest<Op>, reply: FastifyReply) => Promise<SuccessBody<Op>>;

export type OperationId = keyof operations;

/** Handlers for some of the contract's operations, each typed from generated/. */
export type OperationHandlers<K extends OperationId = OperationId> = { [Id in K]: OperationHandler<operations[Id]> };
