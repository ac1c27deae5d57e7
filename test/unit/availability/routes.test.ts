import t from 'tap';
import { ExcludedOrderNotFoundError } from '../../../src/availability/model.js';
import { availabilityProblem } from '../../../src/availability/routes.js';
import { nearestFreeSentence } from '../../../src/orders/routes.js';

t.test('an unknown excluded order is a 404 problem naming it; other errors are not this feature’s', async (t) => {
  t.match(availabilityProblem(new ExcludedOrderNotFoundError('42'))?.problem, {
    type: '/problems/not-found',
    status: 404,
    detail: 'There is no order 42.',
  });
  t.equal(availabilityProblem(new Error('boom')), undefined);
});

t.test('a 409 names the nearest free times in one sentence, saying so when one side has none', async (t) => {
  const before = '2022-11-01T08:11:11.111Z';
  const after = '2022-11-01T20:11:11.111Z';
  t.equal(
    nearestFreeSentence({ before, after }),
    `The nearest free times are ${before} (before) and ${after} (after).`,
  );
  t.equal(
    nearestFreeSentence({ before: null, after }),
    `The nearest free time is ${after} (after); there is none before.`,
  );
  t.equal(
    nearestFreeSentence({ before, after: null }),
    `The nearest free time is ${before} (before); there is none after.`,
  );
  t.equal(nearestFreeSentence({ before: null, after: null }), 'There is no free time before or after it.');
});
