import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Contract } from '../../http/contract.js';
import { ProblemMappings, problemFrom, sendProblem, unmatchedRouteProblem } from '../../http/errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Where each feature registers how its refusals become problems. */
    problemMappings: ProblemMappings;
  }
}

/**
 * The one place errors become responses: every 4xx and 5xx is an RFC 9457 problem, and a 5xx
 * never carries a stack, SQL or driver text (those go to the log with the request id).
 */
async function problems(app: FastifyInstance, { contract }: { contract: Contract }): Promise<void> {
  const mappings = new ProblemMappings();
  app.decorate('problemMappings', mappings);

  app.setErrorHandler((error, request, reply) => {
    const problem = problemFrom(error, request, mappings);
    // Unavailability (database down, shutting down) is an operating condition, one short line
    // each; anything else at 5xx is a bug worth its stack.
    if (problem.status === 503) {
      request.log.warn(
        { problem: problem.problem.type, reason: (error as Error).message },
        'request refused: unavailable',
      );
    } else if (problem.status >= 500) {
      request.log.error({ err: error, problem: problem.problem.type }, 'request failed');
    }
    return sendProblem(reply, problem, request);
  });

  const unmatched = unmatchedRouteProblem(contract.document);
  app.setNotFoundHandler((request, reply) => sendProblem(reply, unmatched(request), request));
}

export default fp(problems, { name: 'problems' });
