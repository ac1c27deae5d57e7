import t from 'tap';
import { DuplicateServiceError, ServiceInUseError, ServiceNotFoundError } from '../../../src/catalogue/model.js';
import { catalogueProblem } from '../../../src/catalogue/routes.js';
import { ProblemError } from '../../../src/http/problem.js';

t.test('an unknown service is a 404', async (t) => {
  const problem = catalogueProblem(new ServiceNotFoundError(77));
  t.ok(problem instanceof ProblemError);
  t.strictSame(problem?.headers, {});
  t.strictSame(problem?.problem, {
    type: '/problems/not-found',
    title: 'Not found',
    status: 404,
    detail: 'There is no service 77.',
  });
});

t.test('a duplicate name is a 409 quoting the name as JSON', async (t) => {
  t.strictSame(catalogueProblem(new DuplicateServiceError('name', 'Inspection "deluxe"'))?.problem, {
    type: '/problems/conflict',
    title: 'Conflict',
    status: 409,
    detail: 'A service with name "Inspection \\"deluxe\\"" already exists.',
  });
});

t.test('a duplicate id is a 409 with the id as a number', async (t) => {
  t.strictSame(catalogueProblem(new DuplicateServiceError('id', 123))?.problem, {
    type: '/problems/conflict',
    title: 'Conflict',
    status: 409,
    detail: 'A service with id 123 already exists.',
  });
});

t.test('deleting a service that orders include is a 409 that says what to do', async (t) => {
  t.strictSame(catalogueProblem(new ServiceInUseError(123))?.problem, {
    type: '/problems/conflict',
    title: 'Conflict',
    status: 409,
    detail: 'Service 123 is included in at least one order; remove it from those orders first.',
  });
});

t.test('an error that is not a catalogue refusal is left to other mappings', async (t) => {
  t.equal(catalogueProblem(new Error('boom')), undefined);
  t.equal(catalogueProblem(new ProblemError('not-found', 'another feature')), undefined);
  t.equal(catalogueProblem(undefined), undefined);
});
