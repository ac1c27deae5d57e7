import t from 'tap';
import { serviceName } from '../../../src/catalogue/model.js';

t.test('a service name is stored without surrounding whitespace', async (t) => {
  t.equal(serviceName('  Inspection \t'), 'Inspection');
  t.equal(serviceName('\u00a0Analysis\u3000'), 'Analysis', 'non-breaking and ideographic spaces too');
});

t.test('whitespace inside a name and its case are kept', async (t) => {
  t.equal(serviceName('Site  Survey'), 'Site  Survey');
  t.equal(serviceName('pH Testing'), 'pH Testing');
});
